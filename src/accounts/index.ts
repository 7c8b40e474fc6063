export { accountName, createAccounts, StatusChanged, type Account, type Accounts, type AccountInput, type PasswordCheck } from './accounts.js';
export { createLockout, lockoutService, sitePolicyOf, SITE_DISTRIBUTED, type DistributedLockoutPolicy, type Gate, type Lockout, type LockoutPolicy, type LockoutStore, type LockState } from './lockout.js';
export { createPasswordHasher, isOverloaded, Overloaded, type PasswordHasher, type Argon2Settings, type HashLoad, type HashPlace } from './password-hasher.js';
export { normalisePhone, looksLikePhone, maskPhone } from './phone.js';
export { maskName } from './masked-name.js';
export { ACR, ACR_VALUES, type Acr, type Authentication, type Channel } from './authentication.js';
