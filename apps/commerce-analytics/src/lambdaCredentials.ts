/**
 * The Lambda bundle's stand-in for `@aws-sdk/credential-provider-node`: the
 * Lambda runtime hands a function its role's credentials in environment
 * variables, so the default chain's other links (SSO, profiles, web identity,
 * container and instance metadata, with the STS and SSO clients they carry)
 * are dead weight there: about 90 KiB of the bundle and its import time.
 */
import { fromEnv } from "@aws-sdk/credential-provider-env"

type AwsCredentialIdentity = Awaited<ReturnType<ReturnType<typeof fromEnv>>>

/** The credentials in `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY` and `AWS_SESSION_TOKEN`. */
export const defaultProvider = (init: Parameters<typeof fromEnv>[0] = {}) => fromEnv(init)

/** As the SDK's own: credentials with an expiry are refreshed. */
export const credentialsWillNeedRefresh = (credentials?: AwsCredentialIdentity): boolean => credentials?.expiration !== undefined

/** As the SDK's own: within five minutes of their expiry, credentials count as expired. */
export const credentialsTreatedAsExpired = (credentials?: AwsCredentialIdentity): boolean =>
  credentials?.expiration !== undefined && credentials.expiration.getTime() - Date.now() < 300_000
