import { z } from 'zod';
import type { ProductConfig } from '../../domain/types.ts';
import { fromZod } from '../errors.ts';
import { slug } from '../route.ts';
import { repositoryProblem } from './repository.ts';

const stepName = z.string().regex(/^[a-z][a-z0-9_-]*$/, 'step names are lowercase identifiers')
  .refine((n) => !(n in Object.prototype), 'a step cannot be named like a built-in property (constructor, ...)');
const branchLike = z.string().min(1).max(255).regex(/^[A-Za-z0-9{][A-Za-z0-9._/{}-]*$/, 'must be a branch name').refine((b) => !b.includes('..'), 'must not contain ".."');

export const stepSchema = z.strictObject({
  argv: z.array(z.string().min(1).max(4096)).min(1, 'argv needs at least the program').max(256),
  env: z.record(z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'environment variable names are identifiers'), z.union([
    z.string().max(8192),
    z.strictObject({ secret: z.string().regex(/^[A-Z][A-Z0-9_]{0,99}$/, 'secret names are UPPER_CASE identifiers') }),
  ])).optional(),
  cwd: z.string().max(1024).refine((p) => !p.startsWith('/') && !p.split('/').includes('..'), 'cwd must be a relative path inside the checkout').optional(),
  timeoutSeconds: z.number().int().min(1).max(86_400).optional(),
});

export const triggerSchema = z.strictObject({
  on: z.enum(['release.cut', 'change.requested', 'release.updated', 'deploy.clicked', 'release.frozen', 'release.final']),
  run: stepName,
  environment: slug.optional(),
});

const gateSchema = z.strictObject({
  group: z.array(z.string().min(1).max(200)).min(1, 'a gate needs a group of at least one person').max(100),
  quorum: z.number().int().min(1).max(100),
  excludeRequester: z.boolean().optional(),
  rejectStops: z.boolean().optional(),
  timeoutSeconds: z.number().int().min(1).max(90 * 86_400).optional(),
  remindEverySeconds: z.number().int().min(1).max(30 * 86_400).optional(),
  onTimeout: z.union([z.literal('fail'), z.strictObject({ escalateTo: z.array(z.string().min(1).max(200)).min(1).max(100) })]).optional(),
}).refine((g) => g.quorum <= g.group.length, { message: 'quorum is larger than the group', path: ['quorum'] });

export const environmentSchema = z.strictObject({
  name: slug,
  order: z.number().int().min(0),
  production: z.boolean(),
  gate: gateSchema.optional(),
});

export const approvalSchema = z.strictObject({
  rule: z.enum(['any-owner', 'quorum']),
  quorum: z.number().int().min(1).max(50).optional(),
  excludeRequester: z.boolean().optional(),
});

/** Everything a product can set; a template sets the same things for several products at once. */
const settings = {
  repository: z.string().min(1).max(2048).superRefine((r, ctx) => {
    const problem = repositoryProblem(r);
    if (problem) ctx.addIssue({ code: 'custom', message: `repository ${problem}` });
  }),
  flow: z.enum(['pull-request', 'cherry-pick', 'binary']),
  trunk: branchLike,
  owners: z.array(z.string().min(1).max(200)),
  steps: z.record(stepName, stepSchema),
  triggers: z.array(triggerSchema),
  environments: z.array(environmentSchema),
  approval: approvalSchema,
  severities: z.array(z.string().regex(/^[a-z][a-z0-9-]*$/)).min(1).max(20),
  branchTemplate: branchLike,
  nameTemplate: z.string().min(1).max(100).regex(/^[a-z0-9{][a-z0-9._{}-]*$/, 'nameTemplate must produce a slug'),
  versioning: z.strictObject({ scheme: z.literal('major.minor'), initial: z.string().regex(/^\d+\.\d+$/, 'initial is like 1.0').optional() }),
  artifacts: z.array(z.strictObject({
    name: z.string().regex(/^[a-z][a-z0-9_-]*$/, 'artifact slot names are lowercase identifiers'),
    path: z.string().min(1).max(1024).refine((p) => !p.startsWith('/') && !p.split('/').includes('..'), 'artifact paths are relative, inside the checkout'),
  })).max(50),
  testEnvironment: slug,
  signoff: gateSchema,
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
}).superRefine(consistent);

const partialSettings = z.strictObject(settings).partial();

/** What a product sets itself: with a template, anything the template sets may be left out. */
export const createProductSchema = partialSettings.extend({ name: slug, template: slug.optional(), repository: settings.repository })
  .superRefine((p, ctx) => {
    if (!p.template && p.flow === undefined) ctx.addIssue({ code: 'custom', path: ['flow'], message: 'flow is required (or a template that sets it)' });
  });
export const patchProductSchema = partialSettings.omit({ flow: true });
export const templateSchema = partialSettings.omit({ repository: true }).extend({ name: slug });
export const patchTemplateSchema = partialSettings.omit({ repository: true, flow: true });

export type ProductInput = z.infer<typeof createProductSchema>;

/** Layers a product's own settings on its template's and checks the result as one configuration. */
export function effectiveConfig(own: ProductInput, template: Record<string, unknown> | null): ProductConfig {
  const merged = { ...(template ?? {}), ...own };
  delete (merged as Record<string, unknown>).createdAt;
  const parsed = productConfigSchema.safeParse(merged);
  if (!parsed.success) throw fromZod('product', parsed.error);
  return parsed.data as ProductConfig;
}
