/**
 * The CDK app: `cdk deploy --app "tsx apps/commerce-analytics/src/cdk/app.ts" <stack>`
 * (the root scripts `deploy:lambda`, `deploy:service`, `deploy:sync`). CDK
 * builds the image and uploads the bundle as assets, so the account needs
 * `cdk bootstrap` once. `synth.ts` builds the same stacks without assets.
 */
import { App } from "aws-cdk-lib"
import { CommerceAnalyticsLambdaStack, CommerceAnalyticsServiceStack, CommerceSyncStack } from "./stacks"

const app = new App()
new CommerceSyncStack(app, "CommerceSync", { artifacts: "assets" })
new CommerceAnalyticsLambdaStack(app, "CommerceAnalyticsLambda", { artifacts: "assets" })
new CommerceAnalyticsServiceStack(app, "CommerceAnalyticsService", { artifacts: "assets" })
app.synth()
