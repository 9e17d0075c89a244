/**
 * A known-answer test of the token crypto, run once at start-up: a fixed key, nonce,
 * timestamp and payload must give exactly the token below (minted with the reference
 * `branca` package, which has its own, older libsodium build) and open back to the payload;
 * a token with one bit flipped in any byte of its tag, or in its timestamp, nonce or
 * ciphertext, must be refused as forged. If any of this fails the
 * server must not start: it would reject every genuine token, or mint ones that no
 * other implementation accepts. There is no fallback to another implementation.
 */
import { LIBSODIUM, type AeadBackend } from "./aead.ts";
import { base62Decode, base62Encode } from "./base62.ts";
import { createBranca, TokenError } from "./branca.ts";

export const KNOWN_ANSWER = {
  key: "4b6e6f776e2d616e73776572207465737420666f722073736520736572766572",
  nonce: "0f1e2d3c4b5a69788796a5b4c3d2e1f00112233445566778",
  timestamp: 1_700_000_000,
  payload: "A fixed payload of more than one ChaCha20 block (64 bytes), sealed at start-up to check the AEAD.",
  token:
    "IxYEvIMfz2bPBqILViPfzBei8dtOyvtxAa4zd4QqoDCZvNUClOa1O6YQojJV7YDClOPoMZcoOOh6bRwyAWMWayvhtbiluiu4CNvn4sxKaC1BMxHWGVENyZxBishHunBSZzVW6EdvRLg0TiQu1FGRkkp7uiHHUTe9JZwJcI7gu3NiGVE8ezj5Jtsx8EOha4Q",
} as const;

export class SelfTestError extends Error {
  override readonly name = "SelfTestError";
}

const fromHex = (h: string) => Uint8Array.from(h.match(/../g) ?? [], (b) => parseInt(b, 16));

/** Throws SelfTestError, saying what went wrong, unless `aead` reproduces the known answer. */
export function checkTokenCrypto(aead: AeadBackend = LIBSODIUM): void {
  const fail = (what: string): never => {
    throw new SelfTestError(`token crypto (${aead.name}) failed its known-answer test: ${what}`);
  };
  const payload = new TextEncoder().encode(KNOWN_ANSWER.payload);
  let minted: string;
  let opened: Uint8Array;
  const branca = createBranca(fromHex(KNOWN_ANSWER.key), { aead });
  try {
    minted = branca.encode(payload, { timestamp: KNOWN_ANSWER.timestamp, nonce: fromHex(KNOWN_ANSWER.nonce) });
  } catch (error) {
    return fail(`sealing threw ${String(error)}`);
  }
  if (minted !== KNOWN_ANSWER.token) fail("sealing gave a different token");
  try {
    opened = branca.decode(KNOWN_ANSWER.token);
  } catch (error) {
    return fail(`the known token was refused (${String(error)})`);
  }
  if (opened.length !== payload.length || opened.some((b, i) => b !== payload[i])) fail("the known token opened to a different payload");
  // Every byte of the tag, and one of the timestamp, the nonce and the ciphertext: each
  // flipped bit must make the token "forged" (a check of part of the tag, or an
  // unauthenticated header, would let some through).
  const sealed = base62Decode(KNOWN_ANSWER.token);
  const tagAt = sealed.length - 16;
  const flips: [string, number][] = [
    ["timestamp", 2],
    ["nonce", 10],
    ["ciphertext", 40],
    ...Array.from({ length: 16 }, (_, i): [string, number] => [`tag byte ${i}`, tagAt + i]),
  ];
  for (const [what, at] of flips) {
    const tampered = sealed.slice();
    tampered[at]! ^= 1;
    let refusal: unknown;
    try {
      branca.decode(base62Encode(tampered));
    } catch (error) {
      refusal = error;
    }
    if (refusal === undefined) fail(`a token with a flipped bit in its ${what} was accepted`);
    if (!(refusal instanceof TokenError && refusal.reason === "forged")) {
      fail(`a flipped bit in the ${what} gave ${String(refusal)} instead of "forged"`);
    }
  }
}
