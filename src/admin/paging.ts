import { z } from 'zod';

/** `?page=&per_page=`: 1-based pages of at most 100 items. */
export const paging = {
  page: z.coerce.number().int().min(1, 'must be 1 or more').max(100_000).default(1),
  per_page: z.coerce.number().int().min(1, 'must be 1 or more').max(100, 'must be 100 or less').default(20),
};

export interface Page<T> {
  items: T[];
  page: number;
  per_page: number;
  total: number;
}

export const offsetOf = (p: { page: number; per_page: number }) => (p.page - 1) * p.per_page;
