/**
 * The kubelet's `$(VAR)` expansion of a container's command, args and env values, ported line by
 * line from k8s.io/kubernetes/third_party/forked/golang/expansion/expand.go (Kubernetes v1.34):
 * `$$` becomes `$`, `$(NAME)` becomes NAME's value when NAME is defined and stays as written when it
 * is not, an unterminated `$(` and any other `$x` stay as written. It runs before any shell does, so a
 * script passed inline in `command` sees the result, not what the program wrote.
 */

const OPERATOR = "$";
const REFERENCE_OPENER = "(";
const REFERENCE_CLOSER = ")";

function syntaxWrap(input: string): string {
  return OPERATOR + REFERENCE_OPENER + input + REFERENCE_CLOSER;
}

/** expansion.MappingFuncFor: the first context defining the name wins; undefined names stay as written. */
export function mappingFuncFor(...contexts: ReadonlyMap<string, string>[]): (name: string) => string {
  return (input) => {
    for (const vars of contexts) {
      const value = vars.get(input);
      if (value !== undefined) return value;
    }
    return syntaxWrap(input);
  };
}

/** expansion.Expand. */
export function expand(input: string, mapping: (name: string) => string): string {
  let buf = "";
  let checkpoint = 0;
  for (let cursor = 0; cursor < input.length; cursor++) {
    if (input[cursor] === OPERATOR && cursor + 1 < input.length) {
      buf += input.slice(checkpoint, cursor);
      const [read, isVar, advance] = tryReadVariableName(input.slice(cursor + 1));
      buf += isVar ? mapping(read) : read;
      cursor += advance;
      checkpoint = cursor + 1;
    }
  }
  return buf + input.slice(checkpoint);
}

/** expansion.tryReadVariableName: what was read, whether it names a variable, and how many bytes it took. */
function tryReadVariableName(input: string): [string, boolean, number] {
  switch (input[0]) {
    case OPERATOR:
      // Escaped operator.
      return [input.slice(0, 1), false, 1];
    case REFERENCE_OPENER:
      for (let i = 1; i < input.length; i++) {
        if (input[i] === REFERENCE_CLOSER) return [input.slice(1, i), true, i + 1];
      }
      // Incomplete reference.
      return [OPERATOR + REFERENCE_OPENER, false, 1];
    default:
      // An operator that does not begin an expression.
      return [OPERATOR + input[0], false, 1];
  }
}
