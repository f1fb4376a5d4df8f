import { createBullBoard } from '@bull-board/api';
import { BullMQAdapter } from '@bull-board/api/bullMQAdapter';
import type { AppControllerRoute, ControllerHandlerReturnType } from '@bull-board/api/typings/app';
import { FastifyAdapter } from '@bull-board/fastify';
import type { Queue } from 'bullmq';
import type { FastifyInstance } from 'fastify';
import type { Redis } from 'ioredis';
import { redactJobData, redactText } from '@recfleet/contract';

/** A BullMQ adapter whose job logs are redacted like its job data. */
class RedactingBullMQAdapter extends BullMQAdapter {
  override async getJobLogs(id: string): Promise<string[]> {
    return (await super.getJobLogs(id)).map(redactText);
  }
}

/** What a board request answers when Redis does not: 503 with Bull Board's own key for it. */
const REDIS_UNAVAILABLE: ControllerHandlerReturnType = {
  // Bull Board's type lists the statuses its own handlers answer; its fastify adapter sends any.
  status: 503 as ControllerHandlerReturnType['status'],
  body: { error: { key: 'ERRORS.REDIS_UNAVAILABLE' }, code: 'REDIS_UNAVAILABLE' },
};

/**
 * Bull Board's fastify adapter with a bound on every API request: one Redis does not answer within
 * `timeoutMs`, or that fails while the queues' connection is down, answers 503 (REDIS_UNAVAILABLE)
 * instead of hanging (a SIGSTOPped Redis) or answering 500. Other failures stay Bull Board's.
 */
class BoundedFastifyAdapter extends FastifyAdapter {
  constructor(
    private readonly connection: Redis,
    private readonly timeoutMs: number,
  ) {
    super();
  }

  override setApiRoutes(routes: AppControllerRoute[]): FastifyAdapter {
    return super.setApiRoutes(
      routes.map((route) => ({ ...route, handler: this.bounded(route.handler.bind(route)) })),
    );
  }

  private bounded(handler: AppControllerRoute['handler']): AppControllerRoute['handler'] {
    return async (request) => {
      let timer: NodeJS.Timeout | undefined;
      const late = new Promise<ControllerHandlerReturnType>((resolve) => {
        timer = setTimeout(() => resolve(REDIS_UNAVAILABLE), this.timeoutMs);
      });
      try {
        return (await Promise.race([handler(request), late])) as Awaited<ReturnType<typeof handler>>;
      } catch (err) {
        // Decided on the connection's state, not on the error's text.
        if (this.connection.status !== 'ready')
          return REDIS_UNAVAILABLE as Awaited<ReturnType<typeof handler>>;
        throw err;
      } finally {
        clearTimeout(timer);
      }
    };
  }
}

export interface BullBoardMountOptions {
  queues: readonly Queue[];
  /** The queues' Redis connection, and the bound on a board request's answer (ms). */
  connection: Redis;
  timeoutMs: number;
  /** Mount path inside the plugin (`/admin/queues`). */
  path: string;
  /** Full URL path of the mount, as the browser sees it (the plugin's prefix + `path`). */
  basePath: string;
  allowActions: boolean;
  recordingsUrl: string;
}

/**
 * Bull Board over the fleet's queues: read-only unless actions are allowed, job data, progress and
 * return values redacted (no join token, no callback/source URL query strings), and never an edit of job data (the
 * editor would only see, and save back, the redacted copy).
 */
export async function mountBullBoard(app: FastifyInstance, o: BullBoardMountOptions): Promise<void> {
  const serverAdapter = new BoundedFastifyAdapter(o.connection, o.timeoutMs);
  serverAdapter.setBasePath(o.basePath);
  const adapters = o.queues.map((queue) => {
    const adapter = new RedactingBullMQAdapter(queue, {
      readOnlyMode: !o.allowActions,
      allowRetries: o.allowActions,
    });
    adapter.setFormatter('data', (data: unknown) => redactJobData(data));
    adapter.setFormatter('returnValue', (value: unknown) => redactJobData(value));
    // The worker's progress (totals, per-user figures) holds no secret; redacted all the same, as
    // everything the board shows of a job.
    adapter.setFormatter('progress', (value: unknown) => redactJobData(value));
    return adapter;
  });
  createBullBoard({
    queues: adapters,
    serverAdapter,
    options: {
      uiConfig: {
        boardTitle: 'recfleet',
        miscLinks: [{ text: 'Recordings', url: o.recordingsUrl }],
      },
    },
  });
  await app.register(
    async (board) => {
      board.addHook('onRequest', async (request, reply) => {
        const method = request.method.toUpperCase();
        if (method === 'GET' || method === 'HEAD') return;
        const route = request.routeOptions.url ?? '';
        const editsData = route.endsWith('/add') || route.endsWith('/update-data');
        if (!o.allowActions || editsData) {
          await reply.code(403).send({
            error: 'forbidden',
            message: editsData
              ? 'adding or editing jobs is disabled in the dashboard (it only sees redacted job data)'
              : 'the queue dashboard is read-only',
          });
        }
      });
      await board.register(serverAdapter.registerPlugin());
    },
    { prefix: o.path },
  );
}
