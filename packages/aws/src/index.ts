/** What every eddy AWS client shares: client options and endpoints, and SDK error classification. */
export * as AwsClientOptions from "./AwsClientOptions"
export * as AwsSdkError from "./AwsSdkError"
