import { teardown } from './global-output-check.mjs';
export default teardown;
