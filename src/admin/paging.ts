import { z } from 'zod';
import { oneLine } from './validate.js';

/** `?page=&per_page=`: 1-based pages of at most 100 items. */
export const paging = {
  page: z.coerce.number().int().min(1, 'must be 1 or more').max(100_000).default(1),
  per_page: z.coerce.number().int().min(1, 'must be 1 or more').max(100, 'must be 100 or less').default(20),
};

/** A list's query: a search (one line of text) and the page. */
export const listQuery = z.object({ q: oneLine().max(128).optional(), ...paging }).strict();
export type ListQuery = z.input<typeof listQuery>;

export interface Page<T> {
  items: T[];
  page: number;
  per_page: number;
  total: number;
}

export const offsetOf = (p: { page: number; per_page: number }) => (p.page - 1) * p.per_page;
