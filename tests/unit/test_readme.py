# Licensed under the Apache License, Version 2.0 (the "License"); you may
# not use this file except in compliance with the License. You may obtain
# a copy of the License at
#
#      http://www.apache.org/licenses/LICENSE-2.0
#
# Unless required by applicable law or agreed to in writing, software
# distributed under the License is distributed on an "AS IS" BASIS, WITHOUT
# WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied. See the
# License for the specific language governing permissions and limitations
# under the License.

"""The README is the package's long description: it must parse cleanly."""

import io
import os

from docutils import core
from nova import test

REPO = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))


class ReadmeTestCase(test.NoDBTestCase):

    def test_readme_parses_without_warnings(self):
        # A merge conflict left in it, a broken table or list, shows here
        # as a warning or error of docutils (what PyPI renders it with).
        path = os.path.join(REPO, 'README.rst')
        with open(path, encoding='utf-8') as f:
            source = f.read()
        messages = io.StringIO()
        core.publish_doctree(source, source_path=path, settings_overrides={
            'report_level': 2, 'halt_level': 5,
            'warning_stream': messages})
        self.assertEqual('', messages.getvalue())
