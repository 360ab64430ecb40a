/** A user of the sample's built-in user store, as written in source (password in clear: demo only). */
export interface DemoUser {
  /**
   * The stable, unique id sent to iAdvize as `userId`. It is not the
   * username: usernames and e-mails change, iAdvize ids must not (and must
   * never be reused for another person).
   */
  readonly id: string;
  /** What the user types to sign in. */
  readonly username: string;
  /** Demo password, shown in the console and in docs/sample.md. Hashed with scrypt at startup. */
  readonly password: string;
  readonly firstName: string;
  readonly lastName: string;
  readonly email: string;
}

/**
 * The two demo users. Their passwords are public on purpose (this is a demo):
 * the store keeps only scrypt hashes of them in memory.
 */
export const DEMO_USERS: readonly DemoUser[] = [
  {
    id: 'demo-user-1001',
    username: 'alice',
    password: 'alice-demo-password',
    firstName: 'Alice',
    lastName: 'Martin',
    email: 'alice@example.com',
  },
  {
    id: 'demo-user-1002',
    username: 'bob',
    password: 'bob-demo-password',
    firstName: 'Bob',
    lastName: 'Dupont',
    email: 'bob@example.com',
  },
];
