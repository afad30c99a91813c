/** What every eddy AWS client shares: client options and endpoints, one scoped client builder, and SDK error classification. */
export * as AwsClient from "./AwsClient"
export * as AwsClientOptions from "./AwsClientOptions"
export * as AwsSdkError from "./AwsSdkError"
