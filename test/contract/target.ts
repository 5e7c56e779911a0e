/**
 * What the contract suite needs from a target: where it is, a key to act with, and what it can do.
 * Each `*.test.ts` beside this file builds one target and hands it to `contractSuite`.
 */

/**
 * What a target can do, and how it answers where a target cannot be the API itself. The suite
 * asserts each of these ways precisely: a flag chooses which exact expectation applies, it never
 * skips the check.
 */
export interface ContractCapabilities {
  /**
   * The target remembers what earlier requests did (a created key exists, a revoked one fails):
   * the server and the MSW mocks. Prism's mock answers every request from the spec's examples.
   */
  stateful: boolean;
  /** The target's clock can be moved, so expiry and the end of a rotation's grace are tested. */
  clock: boolean;
  /**
   * Who answers a request that carries no credentials. `'api'`: the API, with the `unauthorized`
   * problem. `'prism'`: Prism (mock or proxy) checks the spec's security requirement itself, always
   * (its CLI hard-codes `checkSecurity: true`), and never lets such a request through.
   */
  missingCredentials: 'api' | 'prism';
  /**
   * How a request that breaks the spec's schemas is refused. `'api'`: 400 listing every failing
   * field. `'prism-mock'`: Prism's mock validates the request and answers with the example of the
   * operation's 422 response when it declares one, else of its 400 (Prism's rule, not ours).
   */
  invalidInput: 'api' | 'prism-mock';
}

/** A clock the suite can move (the MSW mocks' ManualClock fits). */
export interface TargetClock {
  advance(ms: number): unknown;
}

export interface ContractTarget {
  /** For test names and messages: `server (sqlite)`, `prism proxy`, … */
  name: string;
  /** Where the API is, e.g. http://127.0.0.1:4010. */
  baseUrl: string;
  /** An owner key of organization A, permission `all`, every workspace. */
  ownerKey: string;
  /** An owner key of a second organization B (made on demand where that costs a process). */
  secondOrganizationKey(): Promise<string>;
  /** The fetch every client of the suite uses (MSW intercepts `globalThis.fetch`, so look it up per call). */
  fetch: typeof globalThis.fetch;
  /** Present exactly when `capabilities.clock` is true. */
  clock?: TargetClock;
  capabilities: ContractCapabilities;
}
