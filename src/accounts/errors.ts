// Typed errors of the accounts domain. `code` is stable for API mapping; `field` names the bad input.

export type AccountsErrorCode = 'ADMIN_DISABLED' | 'ADMIN_REQUIRED' | 'INVALID_INPUT' | 'AGENT_NOT_FOUND' | 'HANDLE_TAKEN';

export class AccountsError extends Error {
  constructor(
    message: string,
    readonly code: AccountsErrorCode,
    readonly field?: string,
  ) {
    super(message);
  }
}

/** Admin operations are refused when the admin token env var is unset (there is no default token). */
export class AdminDisabledError extends AccountsError {
  override readonly name = 'AdminDisabledError';
  constructor(envName: string) {
    super(`admin operations are disabled: set the ${envName} environment variable`, 'ADMIN_DISABLED');
  }
}

/** The presented admin token is missing or wrong. */
export class AdminRequiredError extends AccountsError {
  override readonly name = 'AdminRequiredError';
  constructor() {
    super('a valid admin token is required', 'ADMIN_REQUIRED', 'adminToken');
  }
}

/** Bad input: nothing was changed. */
export class AccountsInputError extends AccountsError {
  override readonly name = 'AccountsInputError';
  constructor(message: string, field: string) {
    super(message, 'INVALID_INPUT', field);
  }
}

export class AgentNotFoundError extends AccountsError {
  override readonly name = 'AgentNotFoundError';
  constructor(ref: string) {
    super(`no agent ${ref}`, 'AGENT_NOT_FOUND', 'agent');
  }
}

export class HandleTakenError extends AccountsError {
  override readonly name = 'HandleTakenError';
  constructor(handle: string) {
    super(`handle ${JSON.stringify(handle)} is taken`, 'HANDLE_TAKEN', 'handle');
  }
}
