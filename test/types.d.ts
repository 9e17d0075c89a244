/** Just enough typing for the reference encoder the tests mint tokens with. */
declare module "branca" {
  interface ReferenceBranca {
    encode(message: Uint8Array | string, timestamp?: number): string;
    decode(token: string, ttl?: number): Uint8Array;
    timestamp(token: string): number;
    /** For tests only: a fixed nonce. */
    _nonce: Uint8Array | null;
  }
  export default function createBranca(key: Uint8Array | string): ReferenceBranca;
}

