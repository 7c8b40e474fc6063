import { randomBytes } from 'node:crypto';
import { z } from 'zod';
import type { Database } from '../storage/database.js';
import { oneLine, possibleId } from './validate.js';

export const LEVELS = ['national', 'province', 'city', 'district'] as const;
export type Level = (typeof LEVELS)[number];

export interface Department {
  id: string;
  parentId: string | undefined;
  level: Level;
  name: string;
  /** '/root/…/id/': every department of a subtree has its root's path as a prefix. */
  path: string;
  createdAt: number;
}

export const departmentInput = z
  .object({
    name: oneLine().trim().min(1, 'is required').max(128, 'is longer than 128 characters'),
    level: z.enum(LEVELS, { message: `must be one of ${LEVELS.join(', ')}` }),
    parent_id: z.string().max(32).optional(),
  })
  .strict();
export type DepartmentInput = z.input<typeof departmentInput>;

interface Row {
  id: string;
  parent_id: string | null;
  level: Level;
  name: string;
  path: string;
  created_at: number;
}

const toDepartment = (r: Row): Department => ({
  id: r.id,
  parentId: r.parent_id ?? undefined,
  level: r.level,
  name: r.name,
  path: r.path,
  createdAt: Number(r.created_at),
});

/** Why a department cannot go where it was asked to. */
export function placementProblem(level: Level, parent: Department | undefined): string | undefined {
  const rank = LEVELS.indexOf(level);
  if (!parent) return rank === 0 ? undefined : `a ${level} department needs a parent`;
  if (rank === 0) return 'a national department has no parent';
  if (LEVELS.indexOf(parent.level) !== rank - 1) return `a ${level} department belongs under a ${LEVELS[rank - 1]!} department`;
  return undefined;
}

/** The department tree in SQL. Rules about who may change it live in the admin services. */
export function departmentStore(db: Database) {
  return {
    async create(input: { name: string; level: Level; parent: Department | undefined }): Promise<Department> {
      const id = `dp_${randomBytes(9).toString('base64url')}`;
      const d: Department = { id, parentId: input.parent?.id, level: input.level, name: input.name, path: `${input.parent?.path ?? '/'}${id}/`, createdAt: Date.now() };
      await db('departments').insert({ id, parent_id: d.parentId ?? null, level: d.level, name: d.name, path: d.path, created_at: d.createdAt });
      return d;
    },
    async find(id: string): Promise<Department | undefined> {
      if (!possibleId(id)) return undefined;
      const row = (await db('departments').where({ id }).first()) as Row | undefined;
      return row && toDepartment(row);
    },
    /** Every department under any of these paths (each path's own department included). */
    async within(paths: readonly string[], opts: { q?: string | undefined; offset?: number; limit?: number } = {}): Promise<{ items: Department[]; total: number }> {
      if (paths.length === 0) return { items: [], total: 0 };
      const base = () => {
        const q = db('departments').where((w) => {
          for (const p of paths) w.orWhere((x) => x.whereRaw('substr(path, 1, ?) = ?', [p.length, p]));
        });
        if (opts.q) q.where('name', 'like', `%${opts.q.replace(/[\\%_]/g, '')}%`);
        return q;
      };
      const [count] = (await base().count({ n: '*' })) as { n: number | string }[];
      const rows = (await base().orderBy('path').offset(opts.offset ?? 0).limit(opts.limit ?? 10_000)) as Row[];
      return { items: rows.map(toDepartment), total: Number(count?.n ?? 0) };
    },
    async count(): Promise<number> {
      const [row] = (await db('departments').count({ n: '*' })) as { n: number | string }[];
      return Number(row?.n ?? 0);
    },
  };
}
export type DepartmentStore = ReturnType<typeof departmentStore>;
