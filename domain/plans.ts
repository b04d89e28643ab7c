// Release plans: one configuration for many products (40 Android apps, one plan), filled in per member.
// A plan's strings may name `{name}` (the member product's name), `{repository}` and any parameter
// the plan declares; each member gives its values (or takes the declared default). A shell's
// `${VAR}` is never a placeholder, and neither is an undeclared `{word}`: both stay as written.

export interface PlanParameter {
  name: string;
  description?: string;
  /** Taken by members that give no value; without one, every member must give it. */
  default?: string;
}

/** Placeholders every member has; a plan cannot declare parameters of these names. */
export const builtinParameters = ['name', 'repository', 'product'] as const;

/** Fields with placeholders of their own (a release's name, dates), filled when a release is cut, not here. */
const ownPlaceholders = new Set(['branchTemplate', 'nameTemplate']);

const placeholder = /(?<!\$)\{([a-z][A-Za-z0-9_]*)\}/g;

export class PlanParameterError extends Error {
  override name = 'PlanParameterError';
  constructor(message: string, readonly issues: { path: string; message: string }[]) {
    super(message);
  }
}

/**
 * The values a member's placeholders take: its name and repository, its own values of the declared
 * parameters, their defaults. Unknown and missing parameters are refused, all named at once.
 */
export function parameterValues(declared: PlanParameter[], given: Record<string, string>, member: { name: string; repository: string }): Record<string, string> {
  const issues: { path: string; message: string }[] = [];
  const values: Record<string, string> = { name: member.name, product: member.name, repository: member.repository };
  const names = new Set(declared.map((d) => d.name));
  for (const key of Object.keys(given)) {
    if (!names.has(key)) issues.push({ path: `parameters.${key}`, message: `the plan declares no parameter ${key}${declared.length ? ` (it declares ${[...names].join(', ')})` : ''}` });
  }
  for (const d of declared) {
    const value = Object.hasOwn(given, d.name) ? given[d.name] : d.default;
    if (value === undefined) issues.push({ path: `parameters.${d.name}`, message: `parameter ${d.name} has no default: give its value${d.description ? ` (${d.description})` : ''}` });
    else values[d.name] = value;
  }
  if (issues.length > 0) throw new PlanParameterError(`product ${member.name}: ${issues.map((i) => i.message).join('; ')}`, issues);
  return values;
}

/** The plan's settings with every known placeholder filled in, outside the fields that keep their own. */
export function fillPlan(settings: Record<string, unknown>, values: Record<string, string>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(settings).map(([k, v]) => [k, ownPlaceholders.has(k) ? v : fill(v, values)]));
}

function fill(value: unknown, values: Record<string, string>): unknown {
  if (typeof value === 'string') return value.replace(placeholder, (whole, key: string) => (Object.hasOwn(values, key) ? values[key] as string : whole));
  if (Array.isArray(value)) return value.map((v) => fill(v, values));
  if (value !== null && typeof value === 'object') return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, fill(v, values)]));
  return value;
}

/** The placeholders a plan's settings use (outside the fields that keep their own), for checking them against its declarations. */
export function placeholdersOf(settings: Record<string, unknown>): Set<string> {
  const found = new Set<string>();
  const walk = (v: unknown): void => {
    if (typeof v === 'string') for (const m of v.matchAll(placeholder)) found.add(m[1] as string);
    else if (Array.isArray(v)) v.forEach(walk);
    else if (v !== null && typeof v === 'object') Object.values(v).forEach(walk);
  };
  for (const [k, v] of Object.entries(settings)) if (!ownPlaceholders.has(k)) walk(v);
  return found;
}

/** A member's own settings that replace the plan's: shown as overrides. */
export function overridesOf(own: Record<string, unknown>, plan: Record<string, unknown>): string[] {
  const identity = new Set(['name', 'repository', 'template', 'plan', 'parameters', 'createdAt']);
  return Object.keys(own).filter((k) => !identity.has(k) && Object.hasOwn(plan, k)).sort();
}
