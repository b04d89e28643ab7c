import { checkBranches } from '../../db/repos/branch-claims.ts';
import { getProduct } from '../../db/repos/products.ts';
import { createTemplate, getTemplate, listTemplates, productsUsing, updateTemplate } from '../../db/repos/templates.ts';
import { overridesOf } from '../../domain/plans.ts';
import { audit } from '../audit/record.ts';
import { requireAdmin } from '../auth.ts';
import type { AppDeps } from '../context.ts';
import { ApiError } from '../errors.ts';
import { applyProductConfig, maskSteps, refusingTakenBranches } from '../products/routes.ts';
import { checkPlanSettings, effectiveConfig, patchTemplateSchema, templateSchema } from '../products/schema.ts';
import type { ProductInput } from '../products/schema.ts';
import type { Routes } from '../route.ts';
import { slugParam } from '../route.ts';

// Release plans: one configuration (flow, steps, triggers, environments, policy, parameters) that many
// products are made from, each filling in the plan's parameters. Plans were called templates: the
// old paths (/v1/templates) answer the same, and the database keeps the old table name.

type Member = { name: string; own: unknown };

function presentMember(m: Member, plan: Record<string, unknown>) {
  const own = m.own as Record<string, unknown>;
  return { name: m.name, repository: own.repository, parameters: own.parameters ?? {}, overrides: overridesOf(own, plan) };
}

export function planRoutes(r: Routes, deps: AppDeps): void {
  for (const [base, noun] of [['/v1/plans', 'plans'], ['/v1/templates', 'templates']] as const) {
    const old = noun === 'templates' ? ' (old name of /v1/plans)' : '';
    const notFound = (name: string) => new ApiError('template_not_found', `no plan ${name}`, { plan: name });

    r.add({
      method: 'post', path: base, tag: 'plans', summary: `Create a release plan: settings many products share, with parameters each fills in (admin)${old}`,
      body: templateSchema, responses: { 201: 'the plan', 400: 'bad settings or an undeclared placeholder', 403: 'not an admin', 409: 'name taken' },
    }, async ({ body, actor, c }) => {
      requireAdmin(actor);
      const { name, ...config } = body;
      if (!(await createTemplate(deps.db, name, config))) throw new ApiError('template_exists', `plan ${name} already exists`, { plan: name });
      await audit(deps.db, actor, 'template.create', { target: name, details: maskSteps(config) });
      return c.json({ name, ...config, members: [] }, 201);
    });

    r.add({ method: 'get', path: base, tag: 'plans', summary: `Release plans, with how many products each serves (admin)${old}`, responses: { 200: 'plans', 403: 'not an admin' } }, async ({ actor, c }) => {
      requireAdmin(actor);
      const items = await listTemplates(deps.db);
      const counts = await Promise.all(items.map(async (t) => (await productsUsing(deps.db, t.name)).length));
      return c.json({ items: items.map((t, i) => ({ name: t.name, ...(t.config as object), memberCount: counts[i], updatedAt: t.updatedAt })) });
    });

    r.add({
      method: 'get', path: `${base}/:plan`, tag: 'plans', summary: `A plan and its members: each product's parameters and the settings it overrides (admin)${old}`,
      responses: { 200: 'the plan', 403: 'not an admin', 404: 'unknown' },
    }, async ({ actor, c }) => {
      requireAdmin(actor);
      const name = slugParam(c, 'plan');
      const plan = await getTemplate(deps.db, name);
      if (!plan) throw notFound(name);
      const config = plan.config as Record<string, unknown>;
      const members = await productsUsing(deps.db, name);
      return c.json({ name, ...config, updatedAt: plan.updatedAt, members: members.map((m) => presentMember(m, config)) });
    });

    r.add({
      method: 'patch', path: `${base}/:plan`, tag: 'plans',
      summary: `Change a plan (admin): every product made from it, and their open releases, follow${old}`, body: patchTemplateSchema,
      responses: { 200: 'the plan and the products updated', 400: 'a member cannot take it (a parameter it lacks)', 403: 'not an admin', 404: 'unknown', 409: 'a member would move another product\'s branches' },
    }, async ({ body, actor, c }) => {
      requireAdmin(actor);
      const name = slugParam(c, 'plan');
      const current = await getTemplate(deps.db, name);
      if (!current) throw notFound(name);
      const config = { ...(current.config as Record<string, unknown>), ...body };
      checkPlanSettings(config);
      const users = await productsUsing(deps.db, name);
      // Every member is checked against the new plan before any of them changes.
      const next = users.map((u) => ({ own: u.own as ProductInput, config: effectiveConfig(u.own as ProductInput, config) }));
      await refusingTakenBranches(() => checkBranches(deps.db, next.map((p) => p.config)));
      await updateTemplate(deps.db, name, config);
      for (const p of next) if (await getProduct(deps.db, p.config.name)) await applyProductConfig(deps, p.config, p.own);
      await audit(deps.db, actor, 'template.update', { target: name, details: { ...maskSteps(body as Parameters<typeof maskSteps>[0]), products: next.map((p) => p.config.name) } });
      return c.json({ name, ...config, products: next.map((p) => p.config.name), members: users.map((m) => presentMember(m, config)) });
    });
  }
}
