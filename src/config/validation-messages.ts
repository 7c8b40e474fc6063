import { z } from 'zod';
import { createErrorMap } from 'zod-validation-error';

// zod's messages in words ("expected number to be greater than or equal to 1", not "Too small:
// expected number to be >=1") for every input Yihao validates: configuration, the CLI's options,
// forms and API bodies. Set here, once, when the configuration schema loads, which every process
// does first. (Until the credential libraries became lazy, they set this same map as a side effect
// of being imported.)
z.config({ customError: createErrorMap() });
