"""Lab 05: logistic regression on the lecture's diabetes file.

    python examples/lab05_logistic_regression.py data-03-diabetes.csv

No header, 8 scaled features, a 0/1 label in the last column: a binary target, float32
[759, 1], ready for ``binary_cross_entropy``. The lecture's loop: full batch, SGD with
lr = 1, 100 epochs, the cost every 10 epochs, then the accuracy.
"""

import sys

import torch
import torch.nn.functional as F

from tabloader.datasets import CsvDataset

ds = CsvDataset(sys.argv[1], header=False, target=-1, task="binary")
x_train, y_train = ds.features, ds.targets  # [759, 8], [759, 1]

W = torch.zeros((8, 1), requires_grad=True)
b = torch.zeros(1, requires_grad=True)
optimizer = torch.optim.SGD([W, b], lr=1)

nb_epochs = 100
for epoch in range(nb_epochs + 1):
    hypothesis = torch.sigmoid(x_train.matmul(W) + b)
    cost = F.binary_cross_entropy(hypothesis, y_train)
    optimizer.zero_grad()
    cost.backward()
    optimizer.step()
    if epoch % 10 == 0:
        print(f"Epoch {epoch:4d}/{nb_epochs} Cost: {cost.item():.6f}")

prediction = (torch.sigmoid(x_train.matmul(W) + b) >= 0.5).float()
accuracy = (prediction == y_train).float().mean().item()
print(f"The model has an accuracy of {accuracy * 100:2.2f}% for the training set.")
