/** The ID-card extension grant (RFC 6749 section 4.5): a kiosk posts a signed card assertion. */
export const ID_CARD_GRANT = 'urn:yihao:grant-type:id-card';

/**
 * Sign-in by presentation at a kiosk: the kiosk names a presentation request it started, which the
 * citizen's wallet answered with a verified identity credential (docs/channels/kiosk.md).
 */
export const PRESENTATION_GRANT = 'urn:yihao:grant-type:presentation';

/** The explicit JWT type of a card assertion (RFC 8725 section 3.11), so no other JWT of the kiosk passes for one. */
export const CARD_ASSERTION_TYP = 'card-assertion+jwt';

/** RFC 8628 device authorization grant. */
export const DEVICE_CODE_GRANT = 'urn:ietf:params:oauth:grant-type:device_code';
