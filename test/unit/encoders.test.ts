// Encoders whose output another program reads: cpio (the kernel's initramfs unpacker),
// dropbear host keys, QEMU command lines.
import { execa } from 'execa'
import { readFile, stat, writeFile, readlink } from 'node:fs/promises'
import path from 'node:path'
import { describe, expect, test } from 'vitest'
import { cpioArchive, withParents } from '../../harness/rootfs/cpio.js'
import { dropbearEd25519, ed25519PublicBlob, generateRunKeys } from '../../harness/ssh/keys.js'
import { kernelCmdline, qemuArgs, SSH_NIC_MAC } from '../../harness/qemu/args.js'
import { defaultTopology } from '../../guests/topologies/default.js'
import { builtinsFor, flattenTopology, Q35_BUILTINS, type IommuModel } from '../../guests/topologies/types.js'
import { TOPOLOGIES } from '../../guests/topologies/index.js'
import { tempDir } from './temp-dirs.js'

describe('cpio (newc)', () => {
  test('GNU cpio extracts files, modes, symlinks and concatenated archives exactly', async () => {
    const dir = await tempDir('cpio-')
    const a = cpioArchive(withParents([
      { type: 'file', path: 'etc/dropbear/host_key', data: Buffer.from('secret'), mode: 0o600 },
      { type: 'file', path: 'init', data: Buffer.from('#!/bin/sh\n'), mode: 0o755 },
      { type: 'symlink', path: 'usr/bin/dropbear', target: '/usr/sbin/dropbear' },
    ]))
    const b = cpioArchive([{ type: 'file', path: 'etc/second', data: Buffer.alloc(1001, 7) }])
    expect(a.length % 512).toBe(0)
    await writeFile(path.join(dir, 'all.cpio'), Buffer.concat([a, b]))
    const out = path.join(dir, 'x')
    // The kernel reads concatenated archives; cpio reads one at a time, so read both.
    await execa('sh', ['-c', `mkdir ${out} && cd ${out} && cpio -id --quiet < ../all.cpio`])
    expect(await readFile(path.join(out, 'etc/dropbear/host_key'), 'utf8')).toBe('secret')
    expect((await stat(path.join(out, 'etc/dropbear/host_key'))).mode & 0o777).toBe(0o600)
    expect((await stat(path.join(out, 'init'))).mode & 0o777).toBe(0o755)
    expect(await readlink(path.join(out, 'usr/bin/dropbear'))).toBe('/usr/sbin/dropbear')
    const list = await execa('sh', ['-c', `cd ${dir} && cpio -it --quiet < all.cpio`])
    expect(list.stdout.split('\n')).toEqual(['etc', 'usr', 'usr/bin', 'etc/dropbear', 'etc/dropbear/host_key', 'init', 'usr/bin/dropbear'])
  })
})

describe('SSH keys', () => {
  test('dropbear reads our ed25519 host key and derives the pinned public key', async () => {
    const keys = generateRunKeys()
    const dir = await tempDir('key-')
    await writeFile(path.join(dir, 'host_key'), keys.hostKeyDropbear, { mode: 0o600 })
    const r = await execa('dropbearkey', ['-y', '-f', path.join(dir, 'host_key')])
    const line = r.stdout.split('\n').find((l) => l.startsWith('ssh-ed25519 '))!
    expect(Buffer.from(line.split(' ')[1]!, 'base64')).toEqual(keys.hostKeyBlob)
    expect(keys.clientAuthorizedKey).toMatch(/^ssh-ed25519 [A-Za-z0-9+/=]+/)
  })
  test('key layout is dropbear\'s: string type, string seed||pub', () => {
    const k = dropbearEd25519(Buffer.alloc(32, 1), Buffer.alloc(32, 2))
    expect(k.readUInt32BE(0)).toBe(11)
    expect(k.toString('latin1', 4, 15)).toBe('ssh-ed25519')
    expect(k.readUInt32BE(15)).toBe(64)
    expect(k.length).toBe(4 + 11 + 4 + 64)
    expect(ed25519PublicBlob(Buffer.alloc(32, 2)).length).toBe(4 + 11 + 4 + 32)
  })
})

describe('topologies are consistent data', () => {
  for (const t of Object.values(TOPOLOGIES)) {
    test(`${t.name}: every device and builtin is declared exactly once per model (a group, ungrouped or probe-dependent)`, () => {
      for (const [model, groups] of Object.entries(t.expectedGroups) as Array<[IommuModel, string[][]]>) {
        const ids = [...flattenTopology(t).map((x) => x.node.id), ...builtinsFor(model).map((b) => b.id)]
        expect(new Set(ids).size).toBe(ids.length)
        const declared = [...groups.flat(), ...(t.ungrouped?.[model] ?? []), ...(t.probeDependent?.[model] ?? [])].sort()
        expect(declared, model).toEqual([...ids].sort())
      }
    })
    test(`${t.name}: the cast names test devices of the topology`, () => {
      const role = (id: string) => flattenTopology(t).find((x) => x.node.id === id)?.node.role
      const c = t.cast
      for (const id of [...(c.multiDeviceGroup ?? []), c.singletonGroup, c.hostDriverGroup?.device].filter(Boolean)) expect(role(id!), id).toBe('test')
      if (c.hostDriverGroup) expect(role(c.hostDriverGroup.hostDevice)).toBe('host-driver')
    })
  }
})

describe('QEMU command line', () => {
  const base = {
    topology: defaultTopology, kernel: '/k', initrd: '/i', sshPort: 40022,
    consoleLog: '/c.log', qmpSocket: '/q.sock',
  }
  const devices = (a: string[]) => a.flatMap((x, i) => (a[i - 1] === '-device' ? [x] : []))

  test('TCG, intel-iommu before any PCI device, SSH only on loopback', () => {
    const a = qemuArgs({ ...base, iommu: 'intel-iommu', kvm: false })
    expect(a.join(' ')).toContain('-accel tcg,thread=multi')
    const d = devices(a)
    expect(d[0]).toBe('intel-iommu,intremap=on,caching-mode=on')
    expect(a).toContain(`user,id=sshnet,restrict=on,hostfwd=tcp:127.0.0.1:40022-:22`)
    expect(a).toContain('-no-reboot')
    expect(a[a.indexOf('-append') + 1]).toContain('panic=-1')
  })
  test('KVM with an interrupt-remapping IOMMU needs a split irqchip', () => {
    const a = qemuArgs({ ...base, iommu: 'intel-iommu', kvm: true })
    expect(a[a.indexOf('-machine') + 1]).toBe('q35,kernel-irqchip=split')
    expect(a.join(' ')).toContain('-accel kvm')
  })
  test('ports get unique chassis/slot, function 0 of shared slots is multifunction, props pass through', () => {
    const d = devices(qemuArgs({ ...base, iommu: 'intel-iommu', kvm: false }))
    const chassis = d.filter((x) => /chassis=/.test(x)).map((x) => /chassis=(\d+)/.exec(x)![1])
    expect(new Set(chassis).size).toBe(chassis.length)
    expect(d.find((x) => x.includes('id=mf-edu0'))).toContain('multifunction=on')
    expect(d.find((x) => x.includes('id=mf-edu1'))).not.toContain('multifunction')
    expect(d.find((x) => x.includes('id=mix-edu'))).toContain('multifunction=on')
    expect(d.find((x) => x.includes('id=rp-noacs'))).toContain('disable-acs=on')
    expect(d.find((x) => x.includes('id=sw-edu'))).toContain('bus=sw-down')
    expect(d.find((x) => x.includes('id=ssh-nic'))).toContain(`mac=${SSH_NIC_MAC}`)
  })
  test('a device this QEMU lacks is a usage error naming it', () => {
    expect(() => qemuArgs({ ...base, iommu: 'intel-iommu', kvm: false, available: new Set(['intel-iommu', 'edu']) })).toThrow(/no "virtio-net-pci" device/)
    expect(() => qemuArgs({ ...base, iommu: 'amd-iommu', kvm: false, available: new Set(['intel-iommu', 'edu']) })).toThrow(/no "amd-iommu" device \(needed for the amd-iommu model\)/)
  })
  test('kernel command line per vIOMMU model', () => {
    expect(kernelCmdline('intel-iommu')).toMatch(/intel_iommu=on/)
    expect(kernelCmdline('virtio-iommu')).not.toMatch(/intel_iommu/)
    expect(kernelCmdline('intel-iommu')).toMatch(/iommu\.strict=1/)
  })
})
