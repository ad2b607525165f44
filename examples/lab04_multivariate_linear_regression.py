"""Lab 04-1: multivariate linear regression, on the lecture's test-score file.

    python examples/lab04_multivariate_linear_regression.py data-01-test-score.csv

The file has no header and the final exam score in the last column; tabloader reads it
into a float32 feature tensor [25, 3] and a target tensor [25, 1]. Then the lecture's
loop: full-batch gradient descent on the mean squared error, lr = 1e-5, 20 epochs.
"""

import sys

import torch
import torch.nn.functional as F

from tabloader.datasets import CsvDataset

ds = CsvDataset(sys.argv[1], header=False, target=-1, task="regression")
x_train, y_train = ds.features, ds.targets  # [25, 3], [25, 1]

W = torch.zeros((3, 1), requires_grad=True)
b = torch.zeros(1, requires_grad=True)
optimizer = torch.optim.SGD([W, b], lr=1e-5)

nb_epochs = 20
for epoch in range(nb_epochs + 1):
    hypothesis = x_train.matmul(W) + b
    cost = F.mse_loss(hypothesis, y_train)
    optimizer.zero_grad()
    cost.backward()
    optimizer.step()
    print(f"Epoch {epoch:4d}/{nb_epochs} Cost: {cost.item():.6f}")
