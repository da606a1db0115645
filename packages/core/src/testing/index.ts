export { SeededRandom } from './seeded-random.js';
export { flush, VirtualClock } from './virtual-clock.js';
