import { checkBranches } from '../../db/repos/branch-claims.ts';
import { getProduct } from '../../db/repos/products.ts';
import { createTemplate, getTemplate, listTemplates, productsUsing, updateTemplate } from '../../db/repos/templates.ts';
import { audit } from '../audit/record.ts';
import { requireAdmin } from '../auth.ts';
import type { AppDeps } from '../context.ts';
import { ApiError } from '../errors.ts';
import { applyProductConfig, maskSteps, refusingTakenBranches } from '../products/routes.ts';
import { effectiveConfig, patchTemplateSchema, templateSchema } from '../products/schema.ts';
import type { ProductInput } from '../products/schema.ts';
import type { Routes } from '../route.ts';
import { slugParam } from '../route.ts';

// Templates: one configuration (flow, steps, triggers, environments, policy) shared by several products.
export function templateRoutes(r: Routes, deps: AppDeps): void {
  r.add({
    method: 'post', path: '/v1/templates', tag: 'templates', summary: 'Create a shared product configuration (admin)',
    body: templateSchema, responses: { 201: 'the template', 409: 'name taken' },
  }, async ({ body, actor, c }) => {
    requireAdmin(actor);
    const { name, ...config } = body;
    if (!(await createTemplate(deps.db, name, config))) throw new ApiError('template_exists', `template ${name} already exists`);
    await audit(deps.db, actor, 'template.create', { target: name });
    return c.json({ name, ...config }, 201);
  });

  r.add({ method: 'get', path: '/v1/templates', tag: 'templates', summary: 'Shared configurations (admin)', responses: { 200: 'templates', 403: 'not an admin' } }, async ({ actor, c }) => {
    requireAdmin(actor);
    const items = await listTemplates(deps.db);
    return c.json({ items: items.map((t) => ({ name: t.name, ...(t.config as object), updatedAt: t.updatedAt })) });
  });

  r.add({
    method: 'patch', path: '/v1/templates/:template', tag: 'templates',
    summary: 'Change a template (admin): every product on it, and their open releases, follow', body: patchTemplateSchema,
    responses: { 200: 'the template and the products updated', 404: 'unknown', 409: 'a product on it would move another product\'s branches' },
  }, async ({ body, actor, c }) => {
    requireAdmin(actor);
    const name = slugParam(c, 'template');
    const current = await getTemplate(deps.db, name);
    if (!current) throw new ApiError('template_not_found', `no template ${name}`);
    const config = { ...(current.config as Record<string, unknown>), ...body };
    const users = await productsUsing(deps.db, name);
    // Check every product against the new template before changing any of them.
    const next = users.map((u) => ({ own: u.own as ProductInput, config: effectiveConfig(u.own as ProductInput, config) }));
    await refusingTakenBranches(() => checkBranches(deps.db, next.map((p) => p.config)));
    await updateTemplate(deps.db, name, config);
    for (const p of next) if (await getProduct(deps.db, p.config.name)) await applyProductConfig(deps, p.config, p.own);
    await audit(deps.db, actor, 'template.update', { target: name, details: maskSteps(body as Parameters<typeof maskSteps>[0]) });
    return c.json({ name, ...config, products: next.map((p) => p.config.name) });
  });
}
