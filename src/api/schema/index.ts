// Builds the schema: importing each domain file registers its types and root fields on the builder.
import { lexicographicSortSchema, printSchema, type GraphQLSchema } from 'graphql';
import { builder } from '../builder.js';
import './common.js';
import './chain.js';
import './models.js';
import './accounts.js';
import './decisions.js';
import './route.js';

let built: GraphQLSchema | null = null;

export function getSchema(): GraphQLSchema {
  built ??= builder.toSchema();
  return built;
}

/** The SDL committed as schema.graphql (sorted, so the diff of a change is the change). */
export function printSdl(): string {
  return `${printSchema(lexicographicSortSchema(getSchema()))}\n`;
}
