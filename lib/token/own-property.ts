/**
 * Own-property reads for objects the library does not control: requests,
 * principals (`request.user`) and identities. An inherited property (for
 * example one a polluted `Object.prototype` carries) is never read.
 *
 * An own accessor is called (a getter the app defined on purpose); a getter or
 * Proxy trap that throws lets the error through, and the caller turns it into
 * its refusal.
 * @internal
 */

/** `true` when `target` has an own property `key` (whatever its value, `undefined` included). */
export function hasOwnProperty(target: object, key: PropertyKey): boolean {
  return Object.getOwnPropertyDescriptor(target, key) !== undefined;
}

/** The value of `target`'s own property `key`; `undefined` when it has none (an inherited one is ignored). */
export function ownValue(target: object, key: PropertyKey): unknown {
  const descriptor = Object.getOwnPropertyDescriptor(target, key);
  if (descriptor === undefined) return undefined;
  // The descriptor is an ordinary object: read its own fields only, or a polluted
  // `Object.prototype.value` / `.get` would answer for it.
  if (Object.hasOwn(descriptor, 'value')) return descriptor.value;
  const getter = Object.hasOwn(descriptor, 'get') ? descriptor.get : undefined;
  return typeof getter === 'function' ? Reflect.apply(getter, target, []) : undefined;
}
