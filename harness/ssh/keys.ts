// Per-run SSH keys: a client key the guest authorises, and a guest host key that the
// harness generates, installs and then pins (any other host key is refused).
import { generateKeyPairSync } from 'node:crypto'
import ssh2 from 'ssh2'

export interface RunKeys {
  /** OpenSSH private key for the ssh2 client. */
  clientPrivate: string
  /** authorized_keys line for the guest. */
  clientAuthorizedKey: string
  /** The guest's host key in dropbear's own format (dropbear -r). */
  hostKeyDropbear: Buffer
  /** The host key's public blob in SSH wire format, for pinning. */
  hostKeyBlob: Buffer
}

function sshString(b: Buffer | string): Buffer {
  const data = typeof b === 'string' ? Buffer.from(b) : b
  const len = Buffer.alloc(4)
  len.writeUInt32BE(data.length)
  return Buffer.concat([len, data])
}

/**
 * Dropbear's ed25519 private key file (dropbear: ed25519.c buf_put_ed25519_priv_key):
 * string "ssh-ed25519", then string (32-byte seed || 32-byte public key).
 */
export function dropbearEd25519(seed: Buffer, pub: Buffer): Buffer {
  if (seed.length !== 32 || pub.length !== 32) throw new Error('ed25519 seed and public key must be 32 bytes')
  return Buffer.concat([sshString('ssh-ed25519'), sshString(Buffer.concat([seed, pub]))])
}

/** SSH wire-format public key blob: string "ssh-ed25519", string pub. */
export function ed25519PublicBlob(pub: Buffer): Buffer {
  return Buffer.concat([sshString('ssh-ed25519'), sshString(pub)])
}

export function generateRunKeys(): RunKeys {
  const client = ssh2.utils.generateKeyPairSync('ed25519', { comment: 'vfio-conform' })
  const host = generateKeyPairSync('ed25519')
  // PKCS#8 / SPKI DER for ed25519 end with the raw 32-byte seed / public key.
  const seed = host.privateKey.export({ format: 'der', type: 'pkcs8' }).subarray(-32)
  const pub = host.publicKey.export({ format: 'der', type: 'spki' }).subarray(-32)
  return {
    clientPrivate: client.private,
    clientAuthorizedKey: client.public.trim(),
    hostKeyDropbear: dropbearEd25519(seed, pub),
    hostKeyBlob: ed25519PublicBlob(pub),
  }
}
