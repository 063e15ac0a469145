// Review-thread claims as data: what someone said on a mailing list about how VFIO / iommufd
// behaves, in our own words, and which conformance tests decide it on a given kernel and vIOMMU.
// harness/claims/evaluate.ts turns a run's verdicts into a verdict per claim and target;
// `vfio-conform claims` prints them. The project's registry is suites/claims/registry.ts,
// handed to the harness as an input (harness/registries.ts).

/** The list thread a claim was made in. */
export interface ClaimThread {
  /** Short stable id, used by `vfio-conform claims --thread ID`. */
  id: string
  /** Subject line as the list archive shows it. */
  subject: string
  /** Date of the message the claim is read from (ISO, YYYY-MM-DD). */
  date: string
  /**
   * How to find the message: list archive, sender, subject and date. Never a made-up
   * Message-ID: only what the archive copy we hold actually shows.
   */
  messageRef: string
  /** Who takes part in the exchange the claim comes from. */
  participants: string[]
}

/** One test-name pattern that speaks to the claim. */
export interface ClaimEvidence {
  /** Matched against the test's own name (after "<kernel>/<topology>/<iommu> > "). */
  test: RegExp
  /** Which suite/path this covers, for the report ("legacy", "iommufd", "mdev"...). */
  path: string
  /**
   * When true, a SKIP of the tests matching this pattern does not keep the claim from
   * holding: the path they cover does not exist on that kernel (e.g. the cdev path on a
   * kernel without CONFIG_IOMMUFD), so it cannot contradict the claim either. A FAIL still
   * refutes. At least one non-optional test must PASS for HOLDS.
   */
  optional?: boolean
}

/** Not decidable by any guest this project can boot; the reason says why. */
export interface ClaimNotReproducible {
  kind: 'not reproducible in emulation'
  reason: string
}

export interface Claim {
  /** Short stable id, e.g. "mdev-singleton-group". */
  id: string
  thread: ClaimThread
  /** Who made the claim (as named in the thread). */
  claimedBy: string
  /** The claim, in our own words (never the mail's sentences). */
  claim: string
  /** Tests that decide it. A claim is never decided by zero tests (see evaluate.ts). */
  decidedBy: ClaimEvidence[]
  /**
   * How matching tests are read. 'all-pass': the claim HOLDS on a target when every
   * matching test PASSes (optional patterns may SKIP), with at least one PASS; an XFAIL is a
   * known divergence and does not count as holding.
   */
  holdsWhen: 'all-pass'
  /** 'any-fail': one matching FAIL (or XFAIL, a known divergence) REFUTES the claim there. */
  refutedWhen: 'any-fail'
  /** Set when no emulated guest can decide the claim; its verdict is NOT REPRODUCIBLE everywhere. */
  status?: ClaimNotReproducible
  /** Free text for the reviewer: what the tests do and do not show. */
  note?: string
}
