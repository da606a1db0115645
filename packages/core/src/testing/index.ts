export { flush, VirtualClock } from './virtual-clock.js';
