/**
 * The HTTP server for the app, with requests and responses born with the app's prototypes.
 *
 * Express's `app.handle` gives every request and response the app's prototypes
 * (`Object.setPrototypeOf(req, app.request)`, the same for `res`). On an object Node has just
 * built from IncomingMessage, V8 has to move it to a new hidden class: ~0.6 µs each, about a tenth
 * of bare Express's whole request (the largest item of its profile). On an object that already has
 * that prototype, the call does nothing. Node lets a server choose the classes it builds requests
 * and responses from (`createServer`'s `IncomingMessage` and `ServerResponse` options), so the
 * server builds them from classes whose prototypes are `app.request` and `app.response`, which
 * inherit from Node's own. Express works as before; it just finds nothing to change.
 * (`app.listen` could do this itself: worth proposing upstream.)
 */
import { createServer, IncomingMessage, ServerResponse, type Server } from 'node:http';
import type { Express } from 'express';

/** Request and response classes whose instances have the app's prototypes from birth. */
export function prototypedClasses(app: Express): { IncomingMessage: typeof IncomingMessage; ServerResponse: typeof ServerResponse } {
  // Plain functions, so `prototype` can be the app's objects; Reflect.construct runs Node's own
  // constructors on an instance of them.
  function AppRequest(...args: unknown[]): IncomingMessage {
    return Reflect.construct(IncomingMessage, args, AppRequest) as IncomingMessage;
  }
  AppRequest.prototype = app.request;
  function AppResponse(...args: unknown[]): ServerResponse {
    return Reflect.construct(ServerResponse, args, AppResponse) as ServerResponse;
  }
  AppResponse.prototype = app.response;
  return {
    IncomingMessage: AppRequest as unknown as typeof IncomingMessage,
    ServerResponse: AppResponse as unknown as typeof ServerResponse,
  };
}

/** `app.listen` without listening yet: an http.Server that hands every request to the app. */
export function createAppServer(app: Express): Server {
  return createServer(prototypedClasses(app), app);
}
