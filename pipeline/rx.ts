/**
 * The RxJS types in this package's public API. They are RxJS's own (see
 * rxjs.dev); `@ignore` keeps the docs from re-documenting RxJS.
 * @module
 */
import type * as rx from "rxjs";

/**
 * An RxJS observable stream.
 * @ignore
 */
export type Observable<T> = rx.Observable<T>;
/**
 * An RxJS operator: a function from one observable to another.
 * @ignore
 */
export type OperatorFunction<A, B> = rx.OperatorFunction<A, B>;
