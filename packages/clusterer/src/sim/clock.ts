import { VirtualClock as CoreVirtualClock } from '@sipedge/core/testing';

/** Where the simulator's time starts: a wall-clock instant (November 2023), so times read as dates. */
export const SIM_EPOCH = 1_700_000_000_000;

/** The simulator's clock: core's `VirtualClock`, starting at `SIM_EPOCH` unless told otherwise. */
export class VirtualClock extends CoreVirtualClock {
  constructor(start = SIM_EPOCH) {
    super(start);
  }
}
