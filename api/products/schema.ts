import { z } from 'zod';
import type { ProductConfig } from '../../domain/types.ts';
import { builtinParameters, fillPlan, parameterValues, placeholdersOf, PlanParameterError } from '../../domain/plans.ts';
import type { PlanParameter } from '../../domain/plans.ts';
import { ApiError, fromZod } from '../errors.ts';
import { doc, slug } from '../route.ts';
import { repositoryProblem } from './repository.ts';

const secretName = doc(z.string().regex(/^[A-Z][A-Z0-9_]{0,99}$/, 'secret names are UPPER_CASE identifiers'), 'The name of a secret the worker resolves at run time', 'DEPLOY_TOKEN');
const stepName = z.string().regex(/^[a-z][a-z0-9_-]*$/, 'step names are lowercase identifiers')
  .refine((n) => !(n in Object.prototype), 'a step cannot be named like a built-in property (constructor, ...)');
const branchLike = z.string().min(1).max(255).regex(/^[A-Za-z0-9{][A-Za-z0-9._/{}-]*$/, 'must be a branch name').refine((b) => !b.includes('..'), 'must not contain ".."');

export const stepSchema = z.strictObject({
  argv: doc(z.array(z.string().min(1).max(4096)).min(1, 'argv needs at least the program').max(256),
    'The program and its arguments, run without a shell in a checkout of the commit (a shell only if you name one)', ['make', 'test']),
  env: doc(z.record(z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'environment variable names are identifiers'), z.union([
    z.string().max(8192),
    doc(z.strictObject({ secret: doc(z.string().regex(/^[A-Z][A-Z0-9_]{0,99}$/, 'secret names are UPPER_CASE identifiers'), 'The name of a secret the worker resolves at run time', 'DEPLOY_TOKEN') }),
      'A secret by name: its value is never stored, returned or logged', { secret: 'DEPLOY_TOKEN' }),
  ])), 'Variables the step gets besides CULVERT_*: a value, or a named secret', { REGION: 'eu-west-1', TOKEN: { secret: 'DEPLOY_TOKEN' } }).optional(),
  cwd: doc(z.string().max(1024).refine((p) => !p.startsWith('/') && !p.split('/').includes('..'), 'cwd must be a relative path inside the checkout'),
    'Where in the checkout the step runs (relative)', 'services/api').optional(),
  timeoutSeconds: doc(z.number().int().min(1).max(86_400), 'The step is killed (its whole process group) after this long', 600).optional(),
});

export const triggerSchema = z.strictObject({
  on: doc(z.enum(['release.cut', 'change.requested', 'release.updated', 'deploy.clicked', 'release.frozen', 'release.final']),
    'The event: a cut, a request filed (its checks), the release head moved, a deploy click, a freeze, a final build', 'release.updated'),
  run: doc(stepName, 'The step to run (a key of steps)', 'deploy'),
  environment: doc(slug, 'For deploy steps: the environment (release.updated deploys there after every move)', 'staging').optional(),
});

const gateSchema = z.strictObject({
  group: doc(z.array(z.string().min(1).max(200)).min(1, 'a gate needs a group of at least one person').max(100),
    'Who may vote: principals (token names) with a deciding role on the product', ['sam', 'rita', 'qa-lead']),
  quorum: doc(z.number().int().min(1).max(100), 'How many approvals pass the gate (at most the group\'s size)', 1),
  excludeRequester: doc(z.boolean(), 'Whether the vote of whoever asked for the deployment or final does not count', true).optional(),
  rejectStops: doc(z.boolean(), 'Whether one rejection ends the gate at once', true).optional(),
  timeoutSeconds: doc(z.number().int().min(1).max(90 * 86_400), 'How long the gate waits for its quorum', 86_400).optional(),
  remindEverySeconds: doc(z.number().int().min(1).max(30 * 86_400), 'How often the group is reminded while it waits', 3600).optional(),
  onTimeout: doc(z.union([z.literal('fail'), z.strictObject({
    escalateTo: doc(z.array(z.string().min(1).max(200)).min(1).max(100), 'Who may vote once the gate timed out', ['head-of-release']),
  })]), 'At the timeout: fail, or let others vote', 'fail').optional(),
}).refine((g) => g.quorum <= g.group.length, { message: 'quorum is larger than the group', path: ['quorum'] });

export const environmentSchema = z.strictObject({
  name: doc(slug, 'The environment\'s name', 'staging'),
  order: doc(z.number().int().min(0), 'Its place on the way to production (lower first)', 2),
  production: doc(z.boolean(), 'Whether it is production: only production releases ever reach it', false),
  gate: doc(gateSchema, 'Sign-offs a deployment needs before its step runs', { group: ['sam', 'rita'], quorum: 1 }).optional(),
});

export const approvalSchema = z.strictObject({
  rule: doc(z.enum(['any-owner', 'quorum']), 'any-owner: one owner\'s approval lands a request; quorum: that many owners\'', 'quorum'),
  quorum: doc(z.number().int().min(1).max(50), 'Approvals a request needs with rule quorum', 2).optional(),
  excludeRequester: doc(z.boolean(), 'Whether the requester\'s own vote does not count', true).optional(),
});

/** Everything a product can set; a template sets the same things for several products at once. */
const settings = {
  repository: doc(z.string().min(1).max(2048).superRefine((r, ctx) => {
    const problem = repositoryProblem(r);
    if (problem) ctx.addIssue({ code: 'custom', message: `repository ${problem}` });
  }), 'The git repository: https, ssh or git URL, or a local path under the configured roots (admin only)', 'https://git.example.com/shop/backend.git'),
  flow: doc(z.enum(['pull-request', 'cherry-pick', 'binary']), 'How releases work: merges into trunk, picks onto release branches, or numbered builds with a final', 'cherry-pick'),
  trunk: doc(branchLike, 'The main line releases are cut from and picks come from by default', 'main'),
  owners: doc(z.array(z.string().min(1).max(200)), 'Principals who decide on requests', ['olivia', 'oscar']),
  steps: doc(z.record(stepName, stepSchema), 'Named steps (admin only): what runs for checks, builds and deployments', { test: { argv: ['make', 'test'], timeoutSeconds: 600 } }),
  triggers: doc(z.array(triggerSchema), 'Which step runs on which event (admin only)', [{ on: 'change.requested', run: 'test' }]),
  environments: doc(z.array(environmentSchema), 'Where releases deploy, in order, with their gates (admin only)', [{ name: 'staging', order: 1, production: false }, { name: 'production', order: 2, production: true }]),
  approval: doc(approvalSchema, 'How many owners must approve a request (admin only)', { rule: 'any-owner' }),
  severities: doc(z.array(z.string().regex(/^[a-z][a-z0-9-]*$/)).min(1).max(20), 'The severities a pick request may carry', ['normal', 'hotfix']),
  branchTemplate: doc(branchLike, 'Release branch names: {product}, {name} and date fields are filled in', 'releases/{product}/{name}'),
  nameTemplate: doc(z.string().min(1).max(100).regex(/^[a-z0-9{][a-z0-9._{}-]*$/, 'nameTemplate must produce a slug'), 'Release names a scheduled cut proposes', '{yyyy}-w{ww}'),
  versioning: doc(z.strictObject({
    scheme: doc(z.literal('major.minor'), 'Binary releases are numbered major.minor', 'major.minor'),
    initial: doc(z.string().regex(/^\d+\.\d+$/, 'initial is like 1.0'), 'The first number', '3.10').optional(),
  }), 'How binary releases are numbered when no name is given', { scheme: 'major.minor', initial: '3.10' }),
  artifacts: doc(z.array(z.strictObject({
    name: doc(z.string().regex(/^[a-z][a-z0-9_-]*$/, 'artifact slot names are lowercase identifiers'), 'The artifact\'s slot', 'apk'),
    path: doc(z.string().min(1).max(1024).refine((p) => !p.startsWith('/') && !p.split('/').includes('..'), 'artifact paths are relative, inside the checkout'),
      'Where the build step leaves it, relative to the checkout', 'dist/app.apk'),
  })).max(50), 'What a build keeps (binary flow): each slot\'s file after the build step', [{ name: 'apk', path: 'dist/app.apk' }]),
  testEnvironment: doc(slug, 'Where each release candidate deploys (binary flow)', 'qa'),
  signoff: doc(gateSchema, 'The sign-off a final needs before it publishes (binary flow, admin only)', { group: ['qa-lead', 'rita'], quorum: 1 }),
  github: doc(z.strictObject({
    repository: doc(z.string().regex(/^[A-Za-z0-9-]{1,39}\/[A-Za-z0-9._-]{1,100}$/, 'a GitHub repository is owner/name'), 'The repository on GitHub', 'octo-org/shop'),
    baseUrl: doc(z.url({ protocol: /^https?$/ }).max(500), 'GitHub Enterprise Server\'s API (default api.github.com)', 'https://ghe.example.com/api/v3').optional(),
    auth: doc(z.union([
      z.strictObject({ token: doc(z.strictObject({ secret: secretName }), 'A fine-grained personal access token, by secret name', { secret: 'GITHUB_TOKEN' }) }),
      z.strictObject({
        app: doc(z.strictObject({
          appId: doc(z.number().int().positive(), 'The GitHub App\'s id', 123456),
          installationId: doc(z.number().int().positive(), 'Its installation on the repository\'s owner', 7654321),
          privateKey: doc(z.strictObject({ secret: secretName }), 'The App\'s private key (PEM), by secret name', { secret: 'GITHUB_APP_KEY' }),
        }), 'A GitHub App installation', { appId: 123456, installationId: 7654321, privateKey: { secret: 'GITHUB_APP_KEY' } }),
      }),
    ]), 'A fine-grained token, or a GitHub App installation; secrets by name, resolved by the worker', { token: { secret: 'GITHUB_TOKEN' } }),
    pickLabel: doc(z.string().min(1).max(100).refine((l) => l.includes('{release}'), 'a pick label names {release}'),
      'A label on a merged pull request that files a pick of its merge commit into {release}', 'pick:{release}').optional(),
  }), 'The repository on GitHub: webhooks file and decide requests, Culvert posts its check and decision as commit statuses (admin only)',
  { repository: 'octo-org/shop', auth: { token: { secret: 'GITHUB_TOKEN' } } }),
  components: doc(z.array(z.strictObject({
    name: doc(z.string().regex(/^[a-z][a-z0-9-]{0,39}$/, 'component names are lowercase identifiers'), 'The component\'s name within the product', 'payments'),
    repository: doc(z.string().min(1).max(2048).superRefine((r, ctx) => {
      const problem = repositoryProblem(r);
      if (problem) ctx.addIssue({ code: 'custom', message: `repository ${problem}` });
    }), 'Its git repository (as a product\'s)', 'https://git.example.com/shop/payments.git'),
    trunk: doc(branchLike, 'Its trunk (default main)', 'main').optional(),
    branchTemplate: doc(branchLike, 'Its release branches (default: the product\'s, so that every repository has the same branch)', 'releases/{product}/{name}').optional(),
    check: doc(stepName, 'A step of the product run on every pick requested into this component', 'test').optional(),
  })).max(50), 'Repositories released with this one: each release cuts a branch in every one (cherry-pick flow, admin only)', [{ name: 'payments', repository: 'https://git.example.com/shop/payments.git' }]),
  dependencies: doc(z.array(z.strictObject({
    product: doc(slug, 'The product depended on', 'core'),
    version: doc(z.string().min(1).max(100).regex(/^[A-Za-z0-9][A-Za-z0-9._-]*$/, 'a version is a release name'), 'Its release that must be published', '1.4').optional(),
    versionFrom: doc(z.strictObject({
      step: doc(stepName, 'A step of this product run on the commit being deployed; its last output line is a JSON object', 'versions'),
      key: doc(z.string().min(1).max(100), 'The key of that object to read (default: the product depended on)', 'core').optional(),
    }), 'Or: the version the commit names, read by a step', { step: 'versions', key: 'core' }).optional(),
    environment: doc(slug, 'Where it must have been deployed successfully', 'production'),
    for: doc(z.array(slug).min(1), 'This product\'s environments that need it (default all)', ['production']).optional(),
    timeoutSeconds: doc(z.number().int().min(1).max(90 * 86_400), 'How long a deployment waits before its timeout (default 7 days)', 86_400).optional(),
    onTimeout: doc(z.union([z.literal('fail'), z.strictObject({
      escalateTo: doc(z.array(z.string().min(1).max(200)).min(1).max(100), 'Who may let the deployment go ahead once the wait timed out (principals, as a gate\'s group)', ['head-of-release']),
    })]), 'At the timeout: fail the deployment (default), or hand the wait to others and wait on', { escalateTo: ['head-of-release'] }).optional(),
  })).max(50), 'Versions of other products a deployment waits for, until published (admin only)', [{ product: 'core', version: '1.4', environment: 'production' }]),
};

function consistent(p: Partial<ProductConfig>, ctx: z.RefinementCtx): void {
  const steps = p.steps ?? {};
  const environments = p.environments ?? [];
  (p.triggers ?? []).forEach((t, i) => {
    if (!Object.hasOwn(steps, t.run)) ctx.addIssue({ code: 'custom', path: ['triggers', i, 'run'], message: `no step named ${t.run}` });
    if (t.environment && !environments.some((e) => e.name === t.environment)) {
      ctx.addIssue({ code: 'custom', path: ['triggers', i, 'environment'], message: `no environment named ${t.environment}` });
    }
  });
  if (p.testEnvironment && !environments.some((e) => e.name === p.testEnvironment)) {
    ctx.addIssue({ code: 'custom', path: ['testEnvironment'], message: `no environment named ${p.testEnvironment}` });
  }
  (p.dependencies ?? []).forEach((d, i) => {
    if (d.product === p.name) ctx.addIssue({ code: 'custom', path: ['dependencies', i, 'product'], message: 'a product cannot wait for itself' });
    if ((d.version === undefined) === (d.versionFrom === undefined)) ctx.addIssue({ code: 'custom', path: ['dependencies', i, 'version'], message: 'give either version or versionFrom' });
    if (d.versionFrom && !Object.hasOwn(steps, d.versionFrom.step)) ctx.addIssue({ code: 'custom', path: ['dependencies', i, 'versionFrom', 'step'], message: `no step named ${d.versionFrom.step}` });
    for (const env of d.for ?? []) {
      if (!environments.some((e) => e.name === env)) ctx.addIssue({ code: 'custom', path: ['dependencies', i, 'for'], message: `no environment named ${env}` });
    }
  });
  const components = p.components ?? [];
  if (components.length > 0 && p.flow !== undefined && p.flow !== 'cherry-pick') {
    ctx.addIssue({ code: 'custom', path: ['components'], message: 'components are released with the cherry-pick flow only' });
  }
  const componentNames = new Set<string>();
  components.forEach((comp, i) => {
    if (componentNames.has(comp.name)) ctx.addIssue({ code: 'custom', path: ['components', i, 'name'], message: `component ${comp.name} appears twice` });
    componentNames.add(comp.name);
    if (comp.check && !Object.hasOwn(steps, comp.check)) ctx.addIssue({ code: 'custom', path: ['components', i, 'check'], message: `no step named ${comp.check}` });
  });
  const names = new Set<string>();
  environments.forEach((e, i) => {
    if (names.has(e.name)) ctx.addIssue({ code: 'custom', path: ['environments', i, 'name'], message: `environment ${e.name} appears twice` });
    names.add(e.name);
  });
}

/** The effective configuration of a product, checked whole. */
export const productConfigSchema = z.strictObject({
  name: slug,
  template: slug.optional(),
  ...settings,
  trunk: settings.trunk.default('main'),
  owners: settings.owners.default([]),
  steps: settings.steps.default({}),
  triggers: settings.triggers.default([]),
  environments: settings.environments.default([]),
  approval: settings.approval.optional(),
  severities: settings.severities.optional(),
  branchTemplate: settings.branchTemplate.optional(),
  nameTemplate: settings.nameTemplate.optional(),
  versioning: settings.versioning.optional(),
  artifacts: settings.artifacts.optional(),
  testEnvironment: settings.testEnvironment.optional(),
  signoff: settings.signoff.optional(),
  dependencies: settings.dependencies.optional(),
  components: settings.components.optional(),
  github: settings.github.optional(),
  partOf: slug.optional(),
}).superRefine(consistent);

const partialSettings = z.strictObject(settings).partial();

/** What a product sets itself: with a plan, anything the plan sets may be left out. */
const productName = doc(slug, 'The product\'s name: a slug, unique', 'backend');
const planName = doc(slug, 'A plan whose settings the product takes (its own win, shown as overrides)', 'android-apps');
const parameterName = z.string().regex(/^[a-z][A-Za-z0-9_]{0,62}$/, 'parameter names are identifiers starting with a lowercase letter');
const parameterValuesSchema = doc(z.record(parameterName, z.string().max(1024)).refine((v) => Object.keys(v).length <= 50, 'at most 50 parameters'),
  'Values of the plan\'s declared parameters for this product', { flavour: 'play', appId: 'com.example.maps' });
export const createProductSchema = partialSettings.extend({
  name: productName, plan: planName.optional(), template: doc(slug, 'The old name of plan', 'android-apps').optional(),
  parameters: parameterValuesSchema.optional(), repository: settings.repository,
}).superRefine((p, ctx) => {
  if (p.plan && p.template && p.plan !== p.template) ctx.addIssue({ code: 'custom', path: ['template'], message: 'plan and template (its old name) name different plans' });
  if (!p.plan && !p.template && p.flow === undefined) ctx.addIssue({ code: 'custom', path: ['flow'], message: 'flow is required (or a plan that sets it)' });
  if (p.parameters && !p.plan && !p.template) ctx.addIssue({ code: 'custom', path: ['parameters'], message: 'parameters fill a plan\'s placeholders: name the plan' });
}).transform(({ plan, ...p }) => (plan ? { ...p, template: plan } : p));
export const patchProductSchema = partialSettings.omit({ flow: true }).extend({ parameters: parameterValuesSchema.optional() });

const parameterDecl = z.strictObject({
  name: doc(parameterName.refine((n) => !(builtinParameters as readonly string[]).includes(n), 'name, repository and product are every member\'s own'), 'The placeholder: {name} in any string of the plan', 'flavour'),
  description: doc(z.string().max(500), 'What a member gives here', 'store flavour: play or huawei').optional(),
  default: doc(z.string().max(1024), 'The value of members that give none (without it, each must)', 'play').optional(),
});
const parameterDecls = doc(z.array(parameterDecl).max(50).superRefine((ds, ctx) => {
  const seen = new Set<string>();
  ds.forEach((d, i) => {
    if (seen.has(d.name)) ctx.addIssue({ code: 'custom', path: [i, 'name'], message: `parameter ${d.name} is declared twice` });
    seen.add(d.name);
  });
}), 'Parameters members fill in: {name}, {repository} and these may appear in any string but branchTemplate and nameTemplate', [{ name: 'flavour', default: 'play' }]);

/** A plan's settings may only name placeholders every member can fill. */
function knownPlaceholders(p: { parameters?: PlanParameter[] } & Record<string, unknown>, ctx: z.RefinementCtx): void {
  const declared = new Set([...builtinParameters, ...(p.parameters ?? []).map((d) => d.name)]);
  const { parameters: _, ...rest } = p;
  for (const name of placeholdersOf(rest)) {
    if (!declared.has(name)) ctx.addIssue({ code: 'custom', path: ['parameters'], message: `{${name}} is used but not declared: declare it in parameters (or write \${${name}} for a shell variable)` });
  }
}
export const templateSchema = partialSettings.omit({ repository: true, components: true, github: true }).extend({ name: doc(slug, 'The plan\'s name', 'android-apps'), parameters: parameterDecls.optional() })
  .superRefine(knownPlaceholders);
export const patchTemplateSchema = partialSettings.omit({ repository: true, flow: true, components: true, github: true }).extend({ parameters: parameterDecls.optional() });
/** Checks a plan's whole settings after a patch (the patch alone may use a placeholder the plan declared before). */
export function checkPlanSettings(config: Record<string, unknown>): void {
  const parsed = z.record(z.string(), z.unknown()).superRefine((c, ctx) => knownPlaceholders(c, ctx)).safeParse(config);
  if (!parsed.success) throw fromZod('body', parsed.error);
}

export type ProductInput = z.infer<typeof createProductSchema>;

/**
 * Layers a product's own settings on its plan's (placeholders filled with the product's parameters)
 * and checks the result as one configuration.
 */
export function effectiveConfig(own: ProductInput, plan: Record<string, unknown> | null): ProductConfig {
  const { parameters: given, ...ownSettings } = own;
  let planSettings: Record<string, unknown> = {};
  if (plan) {
    const { parameters: declared, ...rest } = plan as { parameters?: PlanParameter[] } & Record<string, unknown>;
    try {
      planSettings = fillPlan(rest, parameterValues(declared ?? [], given ?? {}, { name: own.name, repository: own.repository }));
    } catch (err) {
      if (!(err instanceof PlanParameterError)) throw err;
      throw new ApiError('bad_request', `invalid product: ${err.message}`, { issues: err.issues });
    }
  }
  const merged = { ...planSettings, ...ownSettings };
  delete (merged as Record<string, unknown>).createdAt;
  const parsed = productConfigSchema.safeParse(merged);
  if (!parsed.success) throw fromZod('product', parsed.error);
  return parsed.data as ProductConfig;
}
