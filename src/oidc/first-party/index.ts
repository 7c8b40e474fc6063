export { firstPartyClient, type FirstPartyClient, type FirstPartyClientSpec, type FirstPartyClientDeps } from './first-party-client.js';
export { firstPartySignIn, baseTokenResponse, randomToken, type FirstPartyOutcome, type FirstPartySignInDeps } from './first-party-sign-in.js';
