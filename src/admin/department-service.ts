import { parseInput } from './validate.js';
import { AdminError } from './admin-error.js';
import type { Database } from '../storage/database.js';
import { departmentInput, departmentStore, placementProblem, type Department, type DepartmentInput, type DepartmentStore } from './departments.js';
import type { Guard } from './guard.js';
import { listQuery, offsetOf, type ListQuery, type Page } from './paging.js';
import type { Operator } from './roles.js';

export function departmentService({ departments, guard, db }: { departments: DepartmentStore; guard: Guard; db: Database }) {
  return {
    async list(op: Operator, query: ListQuery): Promise<Page<Department>> {
      const scopes = await guard.scopes(op, 'department.read', 'department.list');
      const q = parseInput(listQuery, query);
      const { items, total } = await departments.within(scopes, { q: q.q, offset: offsetOf(q), limit: q.per_page });
      return { items, total, page: q.page, per_page: q.per_page };
    },

    async get(op: Operator, id: string): Promise<Department> {
      return guard.require(op, 'department.read', 'department.read', await departments.find(id));
    },

    /** A department under one the operator administers; roots are made with `yihao department create`. */
    async create(op: Operator, input: DepartmentInput): Promise<Department> {
      const parsed = parseInput(departmentInput, input);
      if (!parsed.parent_id) throw new AdminError('invalid_input', 'parent_id is required', { parent_id: 'is required' });
      const parent = await guard.require(op, 'department.write', 'department.create', await departments.find(parsed.parent_id));
      const problem = placementProblem(parsed.level, parent);
      if (problem) throw new AdminError('invalid_input', problem, { level: problem });
      // The department and its record commit together.
      return db.transaction(async (trx) => {
        const created = await departmentStore(trx).create({ name: parsed.name, level: parsed.level, parent });
        await guard.record(op, 'admin.department.created', { departmentId: created.id }, { after: { name: created.name, level: created.level, parent_id: parent.id } }, trx);
        return created;
      });
    },
  };
}
export type DepartmentService = ReturnType<typeof departmentService>;
