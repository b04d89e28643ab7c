import { z } from 'zod';
import type { ProductConfig } from '../../workflows/domain.ts';
import { slug } from '../route.ts';

const stepName = z.string().regex(/^[a-z][a-z0-9_-]*$/, 'step names are lowercase identifiers');

export const stepSchema = z.strictObject({
  argv: z.array(z.string().min(1).max(4096)).min(1, 'argv needs at least the program').max(256),
  env: z.record(z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'environment variable names are identifiers'), z.string().max(8192)).optional(),
  cwd: z.string().max(1024).refine((p) => !p.startsWith('/') && !p.split('/').includes('..'), 'cwd must be a relative path inside the checkout').optional(),
  timeoutSeconds: z.number().int().min(1).max(86_400).optional(),
});

export const triggerSchema = z.strictObject({
  on: z.enum(['release.cut', 'change.requested', 'release.updated', 'deploy.clicked', 'release.frozen', 'release.final']),
  run: stepName,
  environment: slug.optional(),
});

export const environmentSchema = z.strictObject({
  name: slug,
  order: z.number().int().min(0),
  production: z.boolean(),
});

const productFields = {
  repository: z.string().min(1).max(2048).refine((r) => !r.startsWith('-'), 'repository must not start with "-"'),
  flow: z.enum(['pull-request', 'cherry-pick', 'binary']),
  trunk: z.string().min(1).max(255).regex(/^[A-Za-z0-9][A-Za-z0-9._/-]*$/, 'trunk must be a branch name').default('main'),
  owners: z.array(z.string().min(1).max(200)).default([]),
  steps: z.record(stepName, stepSchema).default({}),
  triggers: z.array(triggerSchema).default([]),
  environments: z.array(environmentSchema).default([]),
};

function consistent(p: { steps: Record<string, unknown>; triggers: { run: string; environment?: string }[]; environments: { name: string }[] }, ctx: z.RefinementCtx): void {
  p.triggers.forEach((t, i) => {
    if (!p.steps[t.run]) ctx.addIssue({ code: 'custom', path: ['triggers', i, 'run'], message: `no step named ${t.run}` });
    if (t.environment && !p.environments.some((e) => e.name === t.environment)) {
      ctx.addIssue({ code: 'custom', path: ['triggers', i, 'environment'], message: `no environment named ${t.environment}` });
    }
  });
  const names = new Set<string>();
  p.environments.forEach((e, i) => {
    if (names.has(e.name)) ctx.addIssue({ code: 'custom', path: ['environments', i, 'name'], message: `environment ${e.name} appears twice` });
    names.add(e.name);
  });
}

export const createProductSchema = z.strictObject({ name: slug, ...productFields }).superRefine(consistent);

export const patchProductSchema = z.strictObject({
  repository: productFields.repository.optional(),
  trunk: z.string().min(1).max(255).regex(/^[A-Za-z0-9][A-Za-z0-9._/-]*$/).optional(),
  owners: z.array(z.string().min(1).max(200)).optional(),
  steps: z.record(stepName, stepSchema).optional(),
  triggers: z.array(triggerSchema).optional(),
  environments: z.array(environmentSchema).optional(),
});

export function mergePatch(current: ProductConfig, patch: z.infer<typeof patchProductSchema>): ProductConfig {
  const next: ProductConfig = { ...current };
  for (const [key, value] of Object.entries(patch)) {
    if (value !== undefined) (next as unknown as Record<string, unknown>)[key] = value;
  }
  return next;
}

export function checkConsistent(p: ProductConfig): z.ZodError | null {
  const result = z.any().superRefine((v, ctx) => consistent(v as ProductConfig, ctx)).safeParse(p);
  return result.success ? null : result.error;
}
