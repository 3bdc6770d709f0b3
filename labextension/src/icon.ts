import { LabIcon } from '@jupyterlab/ui-components';

// Three bars of decreasing length: the sidebar's "cells ranked by tokens" at a glance.
const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="16" height="16" viewBox="0 0 16 16">
  <g class="jp-icon3" fill="#616161">
    <rect x="1" y="2" width="14" height="3" rx="1"/>
    <rect x="1" y="6.5" width="10" height="3" rx="1"/>
    <rect x="1" y="11" width="6" height="3" rx="1"/>
  </g>
</svg>`;

export const tokenCountIcon = new LabIcon({
  name: 'jupyter-token-count:icon',
  svgstr: svg
});
