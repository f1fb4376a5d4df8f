import { ConfigError } from '@recfleet/contract/service';
import { resolveSecret, type SecretRef, StorageError } from '@recfleet/storage';

// How the API's processes read their config is what every recfleet process does (the contract's
// `service` module): re-exported here, where users of this package found it.
export {
  ConfigError,
  loadConfig,
  readConfigFile,
  type EnvKey,
  type LoadConfigOptions,
} from '@recfleet/contract/service';

/**
 * A secret of the config as the process uses it: a literal, or a `{ "file" }` / `{ "env" }` reference
 * resolved now. `field` names the key in errors; the secret itself is never echoed.
 */
export function configSecret(ref: SecretRef, field: string, env: Record<string, string | undefined>): string {
  try {
    return resolveSecret(ref, env, field);
  } catch (err) {
    throw new ConfigError(err instanceof StorageError ? err.message : String(err));
  }
}
