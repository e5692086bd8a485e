/**
 * Limits on what one GraphQL operation may ask for, over HTTP and over graphql-ws alike:
 * a maximum selection depth (graphql-armor's max-depth rule) and a maximum estimated cost
 * (graphql-query-complexity). Every object in the answer costs 1 (scalars ride with the object
 * that holds them); a field taking `first` multiplies its selection by that number, and other
 * lists by their usual size; fields that do real work (search, a document's whole text) cost
 * more. At most MAX_ALIASES aliases, so that no field runs many times for the price of one.
 * The schema's own description (introspection) is free but bounded by the aliases. An
 * operation over any limit is refused before it runs, with `QUERY_TOO_COMPLEX`.
 */
import { maxAliasesRule } from '@escape.tech/graphql-armor-max-aliases';
import { maxDepthRule } from '@escape.tech/graphql-armor-max-depth';
import {
  GraphQLError,
  getNamedType,
  getNullableType,
  isLeafType,
  isListType,
  validate,
  type DocumentNode,
  type GraphQLSchema,
} from 'graphql';
import { getComplexity, type ComplexityEstimator } from 'graphql-query-complexity';

export interface OperationLimits {
  maxDepth: number;
  maxCost: number;
}

/** Most aliases in one operation: each alias runs its field again, whatever it costs. */
export const MAX_ALIASES = 30;

/** Fields whose resolver does more than read a row: their own cost, before their selection. */
const FIELD_COSTS: Record<string, number> = {
  // Embeds the query and ranks the team's chunks.
  'Query.search': 100,
  // Ranks the team's chunks by one document's embedding.
  'Query.moreLikeThis': 100,
  // Reads and joins every page.
  'Document.text': 10,
};

/** The usual size of list fields that take no `first`; a connection's lists are sized by its `first`. */
const LIST_SIZES: Record<string, number> = {
  'Document.pages': 10,
  'Document.chunks': 50,
  'Page.words': 250,
  'DocumentConnection.edges': 1,
  'DocumentConnection.nodes': 1,
  'Me.teams': 5,
  'Query.members': 50,
  'Query.apiKeys': 10,
};
const DEFAULT_LIST_SIZE = 10;

const estimateCost: ComplexityEstimator = ({ type, field, args, childComplexity }) => {
  // The schema's own description (introspection) is free: tools ask for it whole.
  if (field.name.startsWith('__') || getNamedType(field.type).name.startsWith('__')) return 0;
  const own = FIELD_COSTS[`${type.name}.${field.name}`];
  if (isLeafType(getNamedType(field.type))) return own ?? 0;
  const first = typeof args.first === 'number' && args.first > 0 ? args.first : undefined;
  const size = first ?? (isListType(getNullableType(field.type)) ? (LIST_SIZES[`${type.name}.${field.name}`] ?? DEFAULT_LIST_SIZE) : 1);
  return (own ?? 1) + size * childComplexity;
};

const tooComplex = (message: string, details: Record<string, unknown>) =>
  new GraphQLError(message, { extensions: { code: 'QUERY_TOO_COMPLEX', details, http: { status: 400 } } });

/**
 * Checks a parsed, valid operation against the limits; answers the refusals (empty when it
 * may run). `variables` size the lists an operation asks for through them.
 */
export function checkOperationLimits(
  limits: OperationLimits,
  request: { schema: GraphQLSchema; document: DocumentNode; operationName?: string | null; variables?: Record<string, unknown> | null },
): GraphQLError[] {
  const errors: GraphQLError[] = [];
  // One pass over the operation for both rules; each reports its refusal with our code.
  validate(request.schema, request.document, [
    maxDepthRule({
      n: limits.maxDepth,
      propagateOnRejection: false,
      onReject: [
        (_ctx, err) => {
          const found = /found (\d+)/.exec(err.message)?.[1];
          errors.push(
            tooComplex(`The operation is nested ${found ?? 'too'} levels deep; at most ${limits.maxDepth} are allowed`, {
              maxDepth: limits.maxDepth,
              ...(found ? { depth: Number(found) } : {}),
            }),
          );
        },
      ],
    }),
    maxAliasesRule({
      n: MAX_ALIASES,
      propagateOnRejection: false,
      onReject: [() => errors.push(tooComplex(`The operation uses more than ${MAX_ALIASES} aliases`, { maxAliases: MAX_ALIASES }))],
    }),
  ]);
  if (errors.length) return errors;
  const cost = getComplexity({
    schema: request.schema,
    query: request.document,
    operationName: request.operationName ?? undefined,
    variables: request.variables ?? {},
    estimators: [estimateCost],
  });
  if (cost > limits.maxCost) {
    errors.push(
      tooComplex(`The operation would cost about ${cost}; at most ${limits.maxCost} is allowed (ask for fewer items or fields)`, {
        maxCost: limits.maxCost,
        cost,
      }),
    );
  }
  return errors;
}
