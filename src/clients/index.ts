export { createClientRegistry, clientInput, type ClientInput, type ClientRegistry, type CreatedClient } from './client-registry.js';
export { clientSecrets, type ClientSecrets } from './client-secrets.js';
