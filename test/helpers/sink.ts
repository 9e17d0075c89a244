/** A transport sink with no streams, for transports built in process (its counts are all zero). */
import type { TransportSink } from "../../src/transport/transport.ts";

export const noSink: TransportSink = {
  deliver() {},
  deliverNumbered() {},
  endAllStreams() {},
  coverageGained() {},
  coverageLost() {},
  audienceSize: () => 0,
  grantSize: () => 0,
  grants: () => [],
};
