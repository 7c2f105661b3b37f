/**
 * cosign key files and blob signatures, without the cosign binary.
 *
 * Private keys: cosign `generate-key-pair` writes an `ENCRYPTED SIGSTORE PRIVATE KEY` (older cosign:
 * `ENCRYPTED COSIGN PRIVATE KEY`) PEM block whose body is the JSON of go-securesystemslib's
 * `encrypted` package: `{"kdf":{"name":"scrypt","params":{"N","r","p"},"salt"},"cipher":{"name":
 * "nacl/secretbox","nonce"},"ciphertext"}` (byte fields base64), the plaintext a PKCS#8 DER key
 * (cosign v2.6.5 pkg/cosign/keys.go marshalKeyPair / LoadPrivateKey; go-securesystemslib v0.9.1
 * encrypted/encrypted.go: scrypt key length 32, secretbox nonce 24). The password comes from
 * COSIGN_PASSWORD, as for cosign (cmd/cosign/cli/generate_key_pair.go). Unencrypted PEM keys
 * (PKCS#8, SEC1, PKCS#1) are accepted as before.
 *
 * Signatures: `cosign sign-blob --key` signs the SHA-256 of the blob (ECDSA: ASN.1 DER) and prints it
 * base64 (cmd/cosign/cli/sign/sign_blob.go); `verify-blob --signature` reads the same. Node's
 * `crypto.sign('sha256', …)` produces exactly that for EC and RSA (PKCS#1 v1.5) keys.
 */
import { createPrivateKey, createPublicKey, scryptSync, sign, verify, type KeyObject } from 'node:crypto';

export const COSIGN_PASSWORD_ENV = 'COSIGN_PASSWORD';

/** A key that cannot be used (unreadable, wrong password, unsupported type): names the file. */
export class KeyError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'KeyError';
  }
}

const ENCRYPTED_TYPES = ['ENCRYPTED SIGSTORE PRIVATE KEY', 'ENCRYPTED COSIGN PRIVATE KEY'];

// ---------------------------------------------------------------- NaCl secretbox (XSalsa20-Poly1305)
// Written from the specifications (Bernstein: "Salsa20 specification", "Extending the Salsa20
// nonce", "The Poly1305-AES message-authentication code"; NaCl crypto_secretbox): only Open is needed.

function rotl(v: number, c: number): number {
  return ((v << c) | (v >>> (32 - c))) >>> 0;
}

/** The Salsa20 double-round core over 16 words; returns the 16 words after 20 rounds (no feed-forward). */
function salsaRounds(input: Uint32Array): Uint32Array {
  const x = Uint32Array.from(input);
  const qr = (a: number, b: number, c: number, d: number) => {
    x[b] = (x[b]! ^ rotl((x[a]! + x[d]!) >>> 0, 7)) >>> 0;
    x[c] = (x[c]! ^ rotl((x[b]! + x[a]!) >>> 0, 9)) >>> 0;
    x[d] = (x[d]! ^ rotl((x[c]! + x[b]!) >>> 0, 13)) >>> 0;
    x[a] = (x[a]! ^ rotl((x[d]! + x[c]!) >>> 0, 18)) >>> 0;
  };
  for (let i = 0; i < 10; i++) {
    qr(0, 4, 8, 12); qr(5, 9, 13, 1); qr(10, 14, 2, 6); qr(15, 3, 7, 11); // columns
    qr(0, 1, 2, 3); qr(5, 6, 7, 4); qr(10, 11, 8, 9); qr(15, 12, 13, 14); // rows
  }
  return x;
}

const SIGMA = Buffer.from('expand 32-byte k', 'ascii');

function salsaInput(key: Buffer, n16: Buffer): Uint32Array {
  const w = (b: Buffer, i: number) => b.readUInt32LE(i);
  return Uint32Array.from([
    w(SIGMA, 0), w(key, 0), w(key, 4), w(key, 8), w(key, 12), w(SIGMA, 4), w(n16, 0), w(n16, 4),
    w(n16, 8), w(n16, 12), w(SIGMA, 8), w(key, 16), w(key, 20), w(key, 24), w(key, 28), w(SIGMA, 12),
  ]);
}

function hsalsa20(key: Buffer, nonce16: Buffer): Buffer {
  const x = salsaRounds(salsaInput(key, nonce16));
  const out = Buffer.alloc(32);
  [0, 5, 10, 15, 6, 7, 8, 9].forEach((idx, i) => out.writeUInt32LE(x[idx]!, i * 4));
  return out;
}

/** `len` bytes of Salsa20 keystream for a 32-byte key and 8-byte nonce, from block 0. */
function salsa20Stream(key: Buffer, nonce8: Buffer, len: number): Buffer {
  const out = Buffer.alloc(len);
  const n16 = Buffer.alloc(16);
  nonce8.copy(n16, 0);
  for (let block = 0; block * 64 < len; block++) {
    n16.writeUInt32LE(block >>> 0, 8);
    n16.writeUInt32LE(Math.floor(block / 2 ** 32), 12);
    const input = salsaInput(key, n16);
    const x = salsaRounds(input);
    const b = Buffer.alloc(64);
    for (let i = 0; i < 16; i++) b.writeUInt32LE((x[i]! + input[i]!) >>> 0, i * 4);
    b.copy(out, block * 64, 0, Math.min(64, len - block * 64));
  }
  return out;
}

function leBig(b: Buffer): bigint {
  let v = 0n;
  for (let i = b.length - 1; i >= 0; i--) v = (v << 8n) | BigInt(b[i]!);
  return v;
}

function poly1305(key32: Buffer, msg: Buffer): Buffer {
  const p = (1n << 130n) - 5n;
  const r = leBig(key32.subarray(0, 16)) & 0x0ffffffc0ffffffc0ffffffc0fffffffn;
  const s = leBig(key32.subarray(16, 32));
  let acc = 0n;
  for (let i = 0; i < msg.length; i += 16) {
    const chunk = msg.subarray(i, Math.min(i + 16, msg.length));
    const n = leBig(chunk) + (1n << BigInt(8 * chunk.length));
    acc = ((acc + n) * r) % p;
  }
  acc = (acc + s) & ((1n << 128n) - 1n);
  const out = Buffer.alloc(16);
  for (let i = 0; i < 16; i++) out[i] = Number((acc >> BigInt(8 * i)) & 0xffn);
  return out;
}

/** NaCl `crypto_secretbox_open`: `box` is tag(16) || ciphertext; undefined when it does not authenticate. */
export function secretboxOpen(box: Buffer, nonce24: Buffer, key32: Buffer): Buffer | undefined {
  if (key32.length !== 32 || nonce24.length !== 24 || box.length < 16) return undefined;
  const subkey = hsalsa20(key32, nonce24.subarray(0, 16));
  const ct = box.subarray(16);
  const stream = salsa20Stream(subkey, nonce24.subarray(16, 24), 32 + ct.length);
  const tag = poly1305(stream.subarray(0, 32), ct);
  let diff = 0;
  for (let i = 0; i < 16; i++) diff |= tag[i]! ^ box[i]!;
  if (diff !== 0) return undefined;
  const pt = Buffer.alloc(ct.length);
  for (let i = 0; i < ct.length; i++) pt[i] = ct[i]! ^ stream[32 + i]!;
  return pt;
}

// ---------------------------------------------------------------- key files

function pemBlock(pem: string): { type: string; body: Buffer } | undefined {
  const m = /-----BEGIN ([A-Z0-9 ]+)-----\r?\n([\s\S]*?)-----END \1-----/.exec(pem);
  if (!m) return undefined;
  const body = m[2]!.split(/\r?\n/).filter((l) => !l.includes(':')).join('');
  return { type: m[1]!, body: Buffer.from(body, 'base64') };
}

interface EncryptedKeyJson {
  kdf?: { name?: string; params?: { N?: number; r?: number; p?: number }; salt?: string };
  cipher?: { name?: string; nonce?: string };
  ciphertext?: string;
}

/** Decrypts cosign's encrypted private key JSON with the password; the PKCS#8 DER inside. */
export function decryptCosignKey(json: Buffer, password: string, what: string): Buffer {
  let d: EncryptedKeyJson;
  try {
    d = JSON.parse(json.toString('utf8')) as EncryptedKeyJson;
  } catch {
    throw new KeyError(`${what}: the encrypted key body is not JSON`);
  }
  const { kdf, cipher, ciphertext } = d;
  if (kdf?.name !== 'scrypt' || cipher?.name !== 'nacl/secretbox' || !kdf.salt || !cipher.nonce || !ciphertext) {
    throw new KeyError(`${what}: unsupported encrypted key (want kdf scrypt and cipher nacl/secretbox)`);
  }
  const { N, r, p } = kdf.params ?? {};
  if (!Number.isInteger(N) || !Number.isInteger(r) || !Number.isInteger(p) || N! > 2 ** 20 || r! > 32 || p! > 16) {
    throw new KeyError(`${what}: unsupported scrypt parameters ${JSON.stringify(kdf.params)}`);
  }
  const key = scryptSync(Buffer.from(password, 'utf8'), Buffer.from(kdf.salt, 'base64'), 32, {
    N: N!,
    r: r!,
    p: p!,
    maxmem: 256 * N! * r! + 1024 * 1024,
  });
  const der = secretboxOpen(Buffer.from(ciphertext, 'base64'), Buffer.from(cipher.nonce, 'base64'), key);
  if (!der) throw new KeyError(`${what}: wrong ${COSIGN_PASSWORD_ENV} (the key does not decrypt)`);
  return der;
}

/**
 * A private signing key from a PEM file's text: cosign's encrypted format (password from
 * `password`, normally $COSIGN_PASSWORD; an empty password is what `cosign generate-key-pair`
 * uses when none is given) or an unencrypted PEM. EC and RSA only.
 */
export function parseSigningKey(pem: string, what: string, password: string | undefined): KeyObject {
  const block = pemBlock(pem);
  let key: KeyObject;
  if (block && ENCRYPTED_TYPES.includes(block.type)) {
    if (password === undefined) {
      throw new KeyError(`${what}: an encrypted cosign key; set ${COSIGN_PASSWORD_ENV} (empty if it was generated without one)`);
    }
    const der = decryptCosignKey(block.body, password, what);
    try {
      key = createPrivateKey({ key: der, format: 'der', type: 'pkcs8' });
    } catch {
      throw new KeyError(`${what}: the decrypted key is not PKCS#8`);
    }
  } else {
    try {
      key = createPrivateKey(pem);
    } catch {
      throw new KeyError(`${what}: not a private key (want a cosign key from \`cosign generate-key-pair\`, or an unencrypted PEM key)`);
    }
  }
  if (key.asymmetricKeyType !== 'ec' && key.asymmetricKeyType !== 'rsa') {
    throw new KeyError(`${what}: a ${key.asymmetricKeyType ?? 'unknown'} key; use an EC (P-256) or RSA key`);
  }
  return key;
}

/** A public key (PEM `PUBLIC KEY`, as `cosign generate-key-pair` writes cosign.pub). */
export function parsePublicKey(pem: string, what: string): KeyObject {
  if (/PRIVATE KEY-----/.test(pem)) throw new KeyError(`${what}: a private key; give the public key (cosign.pub)`);
  try {
    return createPublicKey(pem);
  } catch {
    throw new KeyError(`${what}: not a PEM public key`);
  }
}

/** `cosign sign-blob --key` output for `data`: base64 of the signature over SHA-256(data). */
export function signBlob(data: Buffer, key: KeyObject): string {
  return sign('sha256', data, key).toString('base64');
}

/** `cosign verify-blob --key --signature` for a base64 signature (surrounding whitespace ignored). */
export function verifyBlob(data: Buffer, signatureB64: string, key: KeyObject): boolean {
  const text = signatureB64.trim();
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(text)) return false;
  try {
    return verify('sha256', data, key, Buffer.from(text, 'base64'));
  } catch {
    return false;
  }
}
