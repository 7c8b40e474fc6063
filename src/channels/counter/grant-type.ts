/** RFC 8693 token exchange. */
export const TOKEN_EXCHANGE_GRANT = 'urn:ietf:params:oauth:grant-type:token-exchange';

/** The subject of an assisted counter login: the citizen ID number read from the presented document. */
export const CITIZEN_ID_TOKEN_TYPE = 'urn:yihao:token-type:citizen-id';

/**
 * The subject of a sign-in by presentation at a counter: a presentation request the staff member
 * started, which the citizen's wallet answered with a verified identity credential.
 */
export const PRESENTATION_REQUEST_TOKEN_TYPE = 'urn:yihao:token-type:presentation-request';

export const ACCESS_TOKEN_TYPE = 'urn:ietf:params:oauth:token-type:access_token';
