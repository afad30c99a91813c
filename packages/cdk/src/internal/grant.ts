import * as iam from "aws-cdk-lib/aws-iam"

/** One Allow statement: exactly these actions on exactly these resources. */
export const allow = (role: iam.IRole, actions: ReadonlyArray<string>, resources: ReadonlyArray<string>): void => {
  role.addToPrincipalPolicy(new iam.PolicyStatement({ actions: [...actions], resources: [...resources] }))
}
