#!/usr/bin/env python3
"""Lines of the longest Swift functions (declaration to closing brace), longest first.

    scripts/function-lengths.py [N] [PATH...]      default: 10, Sources/

Braces inside strings and comments are skipped; good enough to track the long functions of
docs/architecture.md and issue 14 (Publisher.publish, GarbageCollector.collect) over time.
"""
import os
import re
import sys

DECL = re.compile(r'^\s*(?:@\w+(?:\([^)]*\))?\s+)*(?:(?:public|private|fileprivate|internal|package|static|final|override|mutating|nonisolated|consuming|borrowing)\s+)*(func\s+[^\s(<]+|init[?!]?|deinit)\b')


def code_only(line, state):
    """The line without string literals and comments; `state` carries an open block comment or multi-line string."""
    out, i = [], 0
    while i < len(line):
        if state['block']:
            j = line.find('*/', i)
            if j < 0:
                return ''.join(out)
            state['block'], i = False, j + 2
        elif state['multi']:
            j = line.find('"""', i)
            if j < 0:
                return ''.join(out)
            state['multi'], i = False, j + 3
        elif line.startswith('//', i):
            break
        elif line.startswith('/*', i):
            state['block'], i = True, i + 2
        elif line.startswith('"""', i):
            state['multi'], i = True, i + 3
        elif line[i] == '"':
            j = i + 1
            while j < len(line) and line[j] != '"':
                j += 2 if line[j] == '\\' else 1
            i = j + 1
        else:
            out.append(line[i])
            i += 1
    return ''.join(out)


def scope_end(code, n):
    """The line of the brace closing the scope opened on or after line `n`, or None."""
    depth, opened = 0, False
    for k in range(n, len(code)):
        depth += code[k].count('{') - code[k].count('}')
        opened = opened or '{' in code[k]
        if opened and depth <= 0:
            return k
    return None


def functions(path):
    lines = open(path, encoding='utf-8').read().split('\n')
    state = {'block': False, 'multi': False}
    code = [code_only(l, state) for l in lines]
    types = []  # (first line, last line, name)
    for n, l in enumerate(code):
        t = re.search(r'\b(?:struct|class|enum|actor|extension)\s+([A-Za-z_][\w.]*)', l)
        if t and (end := scope_end(code, n)) is not None:
            types.append((n, end, t.group(1)))
    for n, l in enumerate(code):
        m = DECL.match(l)
        if not m or '{' not in ''.join(code[n:n + 8]):
            continue
        k = scope_end(code, n)
        if k is None:
            continue
        owners = [name for (a, b, name) in types if a <= n <= b]
        name = m.group(1).replace('func ', '')
        yield k - n + 1, f'{owners[-1]}.{name}' if owners else name, f'{path}:{n + 1}'


def main():
    args = sys.argv[1:]
    count = int(args.pop(0)) if args and args[0].isdigit() else 10
    roots = args or ['Sources']
    found = []
    for root in roots:
        paths = [root] if root.endswith('.swift') else [os.path.join(d, f) for d, _, fs in os.walk(root) for f in fs if f.endswith('.swift')]
        for p in sorted(paths):
            found.extend(functions(p))
    for length, name, where in sorted(found, key=lambda f: -f[0])[:count]:
        print(f'{length:5d}  {name:<45} {where}')


if __name__ == '__main__':
    main()
