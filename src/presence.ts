/**
 * The answer to a presence query (`POST presence`), as the server gives it and the
 * publisher library reads it. No imports: the npm package ships it with the client.
 */
export interface PresenceCounts {
  /** Each topic asked about → open streams on which an event of it would be delivered. */
  readonly topics: Record<string, number>;
  /** Live instances, the answering one included. */
  readonly instances: number;
}
