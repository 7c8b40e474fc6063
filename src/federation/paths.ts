/** Yihao's fixed callback for every upstream: registered at each as the redirect URI. */
export const CALLBACK_PATH = '/federation/callback';

/** Where an upstream sends its back-channel logout tokens for `name`. */
export const backchannelLogoutPath = (name: string) => `/federation/${name}/backchannel-logout`;

/**
 * Where an upstream sends the browser back after its RP-initiated logout (registered at each as the
 * post_logout_redirect_uri when Yihao signs citizens out there).
 */
export const SIGNED_OUT_PATH = '/federation/signed-out';
