#!/usr/bin/env python3
"""olddefconfig in miniature: later assignments win, unknown symbols are dropped, an option whose
dependency is off is forced off (as Kconfig does), autoconf.h is rewritten only when it changes."""
import os, re, sys

kconfig, config, autoconf = sys.argv[1:4]
symbols = []
for line in open(kconfig):
    line = line.split('#')[0].split()
    if line:
        symbols.append((line[0], line[1], line[2] if len(line) > 2 else None))
known = {s[0] for s in symbols}
values = {name: default for name, default, _ in symbols}
for line in open(config):
    line = line.strip()
    m = re.match(r'^CONFIG_([A-Za-z0-9_]+)=(.*)$', line) or re.match(r'^# CONFIG_([A-Za-z0-9_]+) is not set$', line)
    if m and m.group(1) in known:
        values[m.group(1)] = m.group(2) if m.lastindex == 2 else 'n'
for name, _, dep in symbols:
    if dep and values.get(dep) != 'y':
        values[name] = 'n'
out = ''.join(f'CONFIG_{n}={values[n]}\n' if values[n] != 'n' else f'# CONFIG_{n} is not set\n' for n, _, _ in symbols)
with open(config, 'w') as f:
    f.write(out)
header = ''.join(f'#define CONFIG_{n} 1\n' for n, _, _ in symbols if values[n] == 'y')
os.makedirs(os.path.dirname(autoconf), exist_ok=True)
if not os.path.exists(autoconf) or open(autoconf).read() != header:
    with open(autoconf, 'w') as f:
        f.write(header)
