/** Yihao's fixed callback for every upstream: registered at each as the redirect URI. */
export const CALLBACK_PATH = '/federation/callback';

/** Where an upstream sends its back-channel logout tokens for `name`. */
export const backchannelLogoutPath = (name: string) => `/federation/${name}/backchannel-logout`;
