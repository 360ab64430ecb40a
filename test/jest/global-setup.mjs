import { setup } from './global-output-check.mjs';
export default setup;
