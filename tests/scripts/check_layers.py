#!/usr/bin/env python3
"""The layer rule (docs/ARCHITECTURE.md, "Layers"): a file of a library folder includes only its own
folder and the layers below it. Scans every #include "..." of the library folders and prints, for
each include that breaks the rule, the file, the line and the rule; exits 1 if there is one.

  check_layers.py [ROOT]                    checks the tree at ROOT (default: this repository)
  check_layers.py ROOT --stamp S --depfile D  the build step (meson.build): also writes the stamp S
                                            and a depfile naming every file and folder it read, so
                                            ninja runs it again when one of them changes

An include is resolved as the compiler resolves it: beside the including file first, then from ROOT.
Includes that resolve to no file under ROOT (system and third-party headers) are not checked.
"""
import argparse
import os
import re
import sys

# folder: the folders its files may include, besides its own. A file belongs to the longest folder
# that contains it (experiments/runner/x.cpp to experiments/runner, not experiments). Each folder is
# one static library linking exactly these (meson.build files of the folders).
LAYERS = {
    'util': [],
    'tensor': ['util'],
    'autograd': ['util', 'tensor'],
    'nn': ['util', 'tensor', 'autograd'],
    'optim': ['util', 'tensor', 'autograd'],
    'data': ['util', 'tensor'],
    'distributed': ['util', 'tensor', 'autograd', 'nn'],
    'attacks': ['util', 'tensor', 'autograd', 'nn', 'optim', 'data'],
    'experiments/analysis': ['util', 'tensor', 'autograd', 'nn'],
    'experiments/runner': ['util', 'tensor', 'autograd', 'nn', 'optim', 'data', 'attacks', 'distributed',
                           'experiments/analysis'],
    'experiments': ['util', 'tensor', 'autograd', 'nn', 'optim', 'data', 'attacks', 'distributed',
                    'experiments/analysis', 'experiments/runner'],
}
# Headers private to their folder: only tensor ops dispatch to kernels (docs/ARCHITECTURE.md, "How an
# op is built"), so no layer above tensor/ reaches the dispatcher or the kernel list.
PRIVATE = {
    'tensor/dispatch.h': 'tensor',
    'tensor/kernels.h': 'tensor',
    'tensor/kernels.inc': 'tensor',
}
SOURCE_SUFFIXES = ('.h', '.hpp', '.cpp', '.cc', '.cu', '.cuh', '.inc')
INCLUDE = re.compile(r'^\s*#\s*include\s*"([^"]+)"')


def layer_of(path):
    """The longest layer folder holding the repository-relative path, or None."""
    best = None
    for folder in LAYERS:
        if (path == folder or path.startswith(folder + '/')) and (best is None or len(folder) > len(best)):
            best = folder
    return best


def resolve(root, including, target):
    """The repository-relative path the compiler would open for #include "target", or None."""
    for base in (os.path.dirname(including), ''):
        candidate = os.path.normpath(os.path.join(base, target))
        if not candidate.startswith('..') and os.path.isfile(os.path.join(root, candidate)):
            return candidate.replace(os.sep, '/')
    return None


def sources(root):
    """(files, folders): every source file of the layer folders, and the folders walked."""
    files, folders = [], []
    for top in sorted({folder.split('/')[0] for folder in LAYERS}):
        for dirpath, dirnames, filenames in os.walk(os.path.join(root, top)):
            dirnames.sort()
            folders.append(dirpath)
            files += [os.path.relpath(os.path.join(dirpath, f), root).replace(os.sep, '/')
                      for f in sorted(filenames) if f.endswith(SOURCE_SUFFIXES)]
    return files, folders


def violations(root, files):
    for path in files:
        own = layer_of(path)
        allowed = LAYERS[own]
        with open(os.path.join(root, path), encoding='utf-8', errors='replace') as f:
            for number, line in enumerate(f, 1):
                m = INCLUDE.match(line)
                if not m:
                    continue
                target = resolve(root, path, m.group(1))
                if target is None:
                    continue
                owner = PRIVATE.get(target)
                if owner is not None and own != owner and not own.startswith(owner + '/'):
                    yield (f'{path}:{number}: includes "{m.group(1)}", which is private to {owner}/ (only '
                           f'tensor ops dispatch to kernels). Call the tensor op (tensor/ops.h) instead.')
                    continue
                theirs = layer_of(target)
                if theirs == own or theirs in allowed:
                    continue
                may = 'only ' + ', '.join(folder + '/' for folder in allowed) if allowed else 'nothing outside itself'
                what = f'{theirs}/' if theirs else 'a folder outside the library layers'
                yield (f'{path}:{number}: includes "{m.group(1)}" ({what}), but {own}/ may include '
                       f'{may} (the layer rule, docs/ARCHITECTURE.md "Layers"). Move the code it needs '
                       f'down into a layer {own}/ may include, or move this code up.')


def write_depfile(depfile, stamp, root, files, folders):
    def escape(p):
        return p.replace('\\', '\\\\').replace(' ', '\\ ').replace('#', '\\#').replace('$', '$$')
    deps = [os.path.abspath(__file__)] + [os.path.join(root, f) for f in files] + folders
    with open(depfile, 'w') as f:
        f.write(escape(stamp) + ': ' + ' \\\n  '.join(escape(os.path.abspath(d)) for d in deps) + '\n')


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('root', nargs='?', default=os.path.join(os.path.dirname(__file__), '..', '..'))
    parser.add_argument('--stamp', help='file to write when the check passes (the build step)')
    parser.add_argument('--depfile', help="ninja depfile: every file and folder read (with --stamp)")
    args = parser.parse_args()
    root = os.path.abspath(args.root)
    files, folders = sources(root)
    found = list(violations(root, files))
    for message in found:
        print(message, file=sys.stderr)
    if found:
        print(f'check_layers: {len(found)} include(s) break the layer rule', file=sys.stderr)
        return 1
    if args.stamp:
        with open(args.stamp, 'w') as f:
            f.write(f'// {len(files)} files of the layer folders follow the layer rule\n')
        if args.depfile:
            write_depfile(args.depfile, args.stamp, root, files, folders)
    return 0


if __name__ == '__main__':
    sys.exit(main())
